"""Rotate, re-wrap, destroy (issue 5, "must show"): afterwards every stored item
decrypts with the new key alone and none needs the old one; a reviewer removed
before the rotation opens nothing submitted after it, even with their password
and a copy of the database."""

from __future__ import annotations

from pathlib import Path

import pytest
from admin_kit import (
    Person,
    decrypts,
    item_rows,
    let_a_day_pass,
    login_identities,
    recovery_identities,
    source_id,
    submit,
)

from tipbox.config import Settings
from tipbox.crypto import decrypt, parse_identity
from tipbox.errors import NotFound, StorageUnavailable
from tipbox.services.accounts.reviewers import Reviewers, holder_name
from tipbox.services.custody.keyring import RECOVERY, Keyring
from tipbox.services.custody.rotation import KeyInUse
from tipbox.services.instance import InitResult
from tipbox.services.wiring import AdminServices, Instance, ReviewerServices
from tipbox.store import Database
from tipbox.store.desks import DEFAULT_DESK
from tipbox.store.snapshot import copy_database

PASSWORD = "bob's long enough password"


def _grant_holders(instance: Instance, key_id: int) -> set[str]:
    with instance.store.db.connection() as conn:
        rows = conn.execute("SELECT holder FROM grants WHERE key_id = ?", (key_id,))
        return {str(row[0]) for row in rows}


def test_rotate_grants_enabled_holders_and_activates_at_once(
    instance: Instance, admin_services: AdminServices, services: ReviewerServices,
    admin: Person, settings: Settings, init_result: InitResult,
) -> None:
    old = instance.keyring.active_key(DEFAULT_DESK)
    carol, _ = admin_services.accounts.add("carol", is_admin=False)
    dave, _ = admin_services.accounts.add("dave", is_admin=False)
    admin_services.accounts.disable(dave.id)

    rotated = admin_services.rotation.rotate()

    assert rotated.retired is not None
    assert rotated.retired.id == old.id
    assert instance.keyring.active_key(DEFAULT_DESK).id == rotated.key.id
    assert rotated.key.kind == "pq"
    every_key = instance.keyring.keys()
    states = {key.id: key.state for key in every_key}
    assert states == {old.id: "retired", rotated.key.id: "active"}
    admin_id = services.reviewers.by_username("admin").id
    assert _grant_holders(instance, rotated.key.id) == {
        RECOVERY, holder_name(admin_id), holder_name(carol.id)}
    # New submissions use the new key at once.
    submit(instance)
    assert item_rows(instance)[-1]["key_id"] == rotated.key.id
    # The public files follow.
    assert (settings.keys_dir / "newsroom.txt").read_text().strip() == rotated.key.recipient
    wrapped = admin_services.key_files.wrapped_path(rotated.key.recipient).read_bytes()
    recovery = parse_identity(init_result.recovery_identity)
    assert decrypt([recovery], wrapped).decode().strip() == str(rotated.identity)
    # The admin's next login unlocks both keys, newest first.
    identities = login_identities(services, admin)
    assert [str(i.recipient()) for i in identities] == [rotated.key.recipient, old.recipient]


def test_rotate_rewrap_destroy_leaves_everything_on_the_new_key(
    instance: Instance, admin_services: AdminServices, init_result: InitResult,
) -> None:
    receipts = [submit(instance, f"tip {n}", {f"doc{n}.pdf": b"%PDF" * (n + 1) * 5000})
                for n in range(3)]
    anonymous = submit(instance, "no codename", codename=False)
    first = source_id(instance, receipts[0].designation)
    reply_id = instance.sources.add_reply(first, "thanks", author="reviewer")
    old = instance.keyring.active_key(DEFAULT_DESK)
    payloads = {row["id"]: row["blob"] for row in item_rows(instance)}
    old_identities = recovery_identities(instance, init_result)

    rotated = admin_services.rotation.rotate()
    submit(instance, "after the rotation")
    seen: list[tuple[int, int]] = []
    report = admin_services.rotation.rewrap(
        old_identities, batch_size=2, progress=lambda done, total: seen.append((done, total)))
    assert report.skipped == 0
    assert report.remaining == 0
    assert report.rewrapped == len(payloads)
    assert seen[-1] == (len(payloads), len(payloads))
    let_a_day_pass(instance)
    destroyed = admin_services.rotation.destroy(old.id)

    assert destroyed.state == "destroyed"
    assert _grant_holders(instance, old.id) == set()
    assert not admin_services.key_files.wrapped_path(old.recipient).exists()
    rows = item_rows(instance)
    assert {row["key_id"] for row in rows} == {rotated.key.id}
    for row in rows:
        assert decrypts(instance, row, [rotated.identity]), row["id"]
        assert not decrypts(instance, row, old_identities[:1]), row["id"]
        if row["id"] in payloads:
            assert row["blob"] == payloads[row["id"]]  # payload untouched
    # The recovery identity now opens the new key only.
    assert [str(i.recipient()) for i in recovery_identities(instance, init_result)] == [
        rotated.key.recipient]
    # The source still reads its reply with its own key.
    assert receipts[0].codename is not None
    login = instance.sources.login(receipts[0].codename)
    assert [reply.id for reply in instance.sources.replies(login)] == [reply_id]
    assert anonymous.codename is None


def test_destroy_is_refused_while_anything_needs_the_key(
    instance: Instance, admin_services: AdminServices, init_result: InitResult,
) -> None:
    submit(instance)
    old = instance.keyring.active_key(DEFAULT_DESK)
    with pytest.raises(KeyInUse, match="active"):
        admin_services.rotation.destroy(old.id)
    admin_services.rotation.rotate()
    with pytest.raises(KeyInUse, match="still protects 1 stored item:"):
        admin_services.rotation.destroy(old.id)
    assert _grant_holders(instance, old.id) == {RECOVERY}
    admin_services.rotation.rewrap(recovery_identities(instance, init_result))
    with pytest.raises(KeyInUse, match="retired less than 24 hours ago"):
        admin_services.rotation.destroy(old.id)
    let_a_day_pass(instance)
    admin_services.rotation.destroy(old.id)
    with pytest.raises(KeyInUse, match="already"):
        admin_services.rotation.destroy(old.id)
    with pytest.raises(NotFound):
        admin_services.rotation.destroy(9999)


def test_rewrap_without_the_old_key_skips_and_keeps_items_readable(
    instance: Instance, admin_services: AdminServices, init_result: InitResult,
) -> None:
    submit(instance)
    old_identities = recovery_identities(instance, init_result)
    rotated = admin_services.rotation.rotate()
    report = admin_services.rotation.rewrap([rotated.identity])
    assert (report.rewrapped, report.skipped, report.remaining) == (0, 1, 1)
    assert all(decrypts(instance, row, old_identities) for row in item_rows(instance))


def test_rewrap_resumes_after_an_interruption(
    instance: Instance, admin_services: AdminServices, init_result: InitResult,
) -> None:
    for n in range(5):
        submit(instance, f"tip {n}", codename=False)
    identities = recovery_identities(instance, init_result)
    admin_services.rotation.rotate()

    def stop_after_two_batches(done: int, total: int) -> None:
        if done >= 4:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        admin_services.rotation.rewrap(identities, batch_size=2,
                                       progress=stop_after_two_batches)
    assert admin_services.rotation.pending() == 1
    every = recovery_identities(instance, init_result) + identities
    assert all(decrypts(instance, row, every) for row in item_rows(instance))
    report = admin_services.rotation.rewrap(identities, batch_size=2)
    assert (report.rewrapped, report.remaining) == (1, 0)


def _copy_database(settings: Settings, target: Path) -> Database:
    """What a thief or a removed reviewer takes: a consistent copy of the database (an
    SQLite snapshot, from either back end)."""
    target.mkdir()
    copy_database(settings.database_path, target / "tipbox.db", url=settings.database_url)
    return Database(target / "tipbox.db")


@pytest.mark.parametrize("removal", ["disable", "delete"])
def test_a_removed_reviewer_cannot_open_anything_submitted_after_the_rotation(
    instance: Instance, admin_services: AdminServices, services: ReviewerServices,
    settings: Settings, init_result: InitResult, tmp_path: Path, removal: str,
) -> None:
    submit(instance, "before")
    bob, _ = services.reviewers.create("bob", password=PASSWORD)
    services.reviewers.grant(bob, recovery_identities(instance, init_result))
    bob_identity = services.reviewers.unlock("bob", PASSWORD).identity
    services.reviewers.forgive("bob")
    kept = instance.keyring.open_identities(bob_identity)  # bob copies what he holds
    assert len(kept) == 1

    removed = getattr(admin_services.accounts, removal)(bob.id)
    assert removed.grants_deleted == 1
    assert "Rotate" in removed.advice
    admin_services.rotation.rotate()
    submit(instance, "after the rotation", {"leak.pdf": b"%PDF secret" * 100})
    active = instance.keyring.active_key(DEFAULT_DESK).id
    after = [row for row in item_rows(instance) if row["key_id"] == active]
    assert len(after) == 3

    copy = _copy_database(settings, tmp_path / "stolen")
    stolen = Reviewers(copy, params=settings.password_argon2, throttle_key=bytes(32))
    try:
        if removal == "disable":
            # The copy is theirs to edit: re-enable the account, log in with the password.
            with copy.transaction() as conn:
                conn.execute("UPDATE reviewers SET disabled = 0 WHERE username = 'bob'")
            identity = stolen.unlock("bob", PASSWORD).identity
        else:
            with pytest.raises(NotFound):
                stolen.by_username("bob")
            identity = bob_identity
        opened = Keyring(copy).open_identities(identity)
    finally:
        copy.close()
    assert opened == []
    assert not any(decrypts(instance, row, [identity, *kept]) for row in after)
    # What bob had access to before the removal stays what he had.
    assert decrypts(instance, item_rows(instance)[0], kept)


def test_rewrap_in_slices(
    instance: Instance, admin_services: AdminServices, init_result: InitResult,
) -> None:
    for n in range(5):
        submit(instance, f"tip {n}", codename=False)
    identities = recovery_identities(instance, init_result)
    admin_services.rotation.rotate()
    first = admin_services.rotation.rewrap(identities, batch_size=2, limit=3)
    assert (first.rewrapped, first.remaining) == (3, 2)
    second = admin_services.rotation.rewrap(identities, limit=3)
    assert (second.rewrapped, second.remaining) == (2, 0)


def test_an_upload_that_outlives_its_key_is_refused_not_stored_unreadable(
    instance: Instance, admin_services: AdminServices, init_result: InitResult,
) -> None:
    draft = instance.submissions.start(None)  # a slow upload starts on the current key
    draft.add_message("a slow upload")
    old = instance.keyring.active_key(DEFAULT_DESK)
    admin_services.rotation.rotate()
    admin_services.rotation.rewrap(recovery_identities(instance, init_result))
    let_a_day_pass(instance)
    admin_services.rotation.destroy(old.id)
    with pytest.raises(StorageUnavailable, match="key changed"):
        draft.commit(want_codename=False)
    assert item_rows(instance) == []
    assert list(instance.store.blobs.names()) == []
