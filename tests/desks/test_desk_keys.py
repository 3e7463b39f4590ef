"""Per-desk custody: each desk's key reaches its members only; rotation, re-wrap and moves."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from desk_kit import Desks, csrf, logged_in, send

from tests.conftest import database_env_of
from tests.reviewer.reviewer_kit import ReviewerSite
from tipbox.cli import cli
from tipbox.crypto import DecryptionError, decrypt_detached, parse_identity
from tipbox.errors import InvalidInput
from tipbox.services.custody.keyring import KeyIdentity
from tipbox.services.desks.desks import DEFAULT_DESK
from tipbox.services.wiring import Instance


def holders_of(instance: Instance, key_id: int) -> set[str]:
    with instance.store.db.reading() as conn:
        return {row[0] for row in conn.execute("SELECT holder FROM grants WHERE key_id = ?",
                                               (key_id,))}


def account_id(site: ReviewerSite, name: str) -> int:
    return site.services.reviewers.by_username(name).id


def opens(instance: Instance, source_id: int, identities: list[KeyIdentity]) -> list[bool]:
    """For each newsroom-readable item of the source: do ``identities`` open it?"""
    with instance.store.db.reading() as conn:
        rows = conn.execute("SELECT header, blob FROM items WHERE source_id = ? AND key_id IS"
                            " NOT NULL ORDER BY id", (source_id,)).fetchall()
    found = []
    for header, blob in rows:
        with instance.store.blobs.open_blob(blob) as payload:
            try:
                b"".join(decrypt_detached(identities, bytes(header), payload))
                found.append(True)
            except DecryptionError:
                found.append(False)
    return found


def recovery_keys(site: ReviewerSite) -> list[KeyIdentity]:
    recovery = parse_identity(site.init.recovery_identity)
    return site.services.instance.keyring.open_identities(recovery)


def desk_keys(site: ReviewerSite, desk_id: int) -> list[KeyIdentity]:
    known = site.services.instance.keyring.keys()
    keys = {key.recipient for key in known if key.desk_id == desk_id}
    return [i for i in recovery_keys(site) if str(i.recipient()) in keys]


def test_a_desks_key_is_granted_to_its_members_and_recovery_only(site: ReviewerSite,
                                                                  desks: Desks) -> None:
    instance = site.services.instance
    legal_key = instance.keyring.active_key(desks.legal.id)
    assert legal_key.kind == "pq"
    assert holders_of(instance, legal_key.id) == {
        "recovery", f"reviewer:{account_id(site, 'admin')}", f"reviewer:{account_id(site, 'lena')}"}
    newsroom_key = instance.keyring.active_key(DEFAULT_DESK)
    assert f"reviewer:{account_id(site, 'lena')}" not in holders_of(instance, newsroom_key.id)
    wrapped = instance.settings.keys_dir / f"newsroom-{legal_key.fingerprint.replace(' ', '')}.age"
    assert wrapped.is_file()
    assert (instance.settings.keys_dir / "newsroom-legal.txt").read_text() == (
        legal_key.recipient + "\n")


def test_rotation_and_rewrap_stay_within_the_desk(site: ReviewerSite, desks: Desks) -> None:
    instance, admin = site.services.instance, site.services.admin
    _, legal_source = send(instance, desks.legal.id, "before the rotation")
    before_newsroom = instance.keyring.active_key(DEFAULT_DESK)
    old = instance.keyring.active_key(desks.legal.id)
    rotated = admin.rotation.rotate(desks.legal.id, by="admin")
    assert instance.keyring.active_key(DEFAULT_DESK) == before_newsroom
    assert rotated.retired is not None
    assert rotated.retired.id == old.id
    assert set(rotated.holders) == {"recovery", f"reviewer:{account_id(site, 'admin')}",
                                    f"reviewer:{account_id(site, 'lena')}"}
    report = admin.rotation.rewrap(recovery_keys(site), by="admin")
    assert (report.rewrapped, report.remaining) == (2, 0)  # the message and its manifest
    with instance.store.db.reading() as conn:
        key_ids = {row[0] for row in conn.execute(
            "SELECT key_id FROM items WHERE source_id = ?", (legal_source,))}
    assert key_ids == {rotated.key.id}  # the legal desk's new key, not the newsroom's


def test_removing_a_member_ends_its_grants_and_sessions(site: ReviewerSite,
                                                         desks: Desks) -> None:
    instance = site.services.instance
    lena = logged_in(site, desks.lena)
    assert lena.get("/").status_code == 200
    instance.desks.remove_member(desks.legal.id, account_id(site, "lena"), by="admin")
    legal_key = instance.keyring.active_key(desks.legal.id)
    assert f"reviewer:{account_id(site, 'lena')}" not in holders_of(instance, legal_key.id)
    assert lena.get("/").status_code == 303  # to the login page
    assert instance.desks.of_reviewer(account_id(site, "lena")) == []


def test_an_admin_moves_a_source_and_the_old_desk_loses_it(site: ReviewerSite,
                                                            desks: Desks) -> None:
    instance = site.services.instance
    _, source_id = send(instance, DEFAULT_DESK, "this is for the lawyers",
                        files={"contract.pdf": b"%PDF contract"})
    site.services.inbox.reply(source_id, "we pass it on", reviewer="admin")
    admin = logged_in(site, site.admin)
    path = f"/sources/{source_id}"
    assert 'name="desk"' in admin.get(path).get_data(as_text=True)
    moved = admin.post(f"/admin/sources/{source_id}/move",
                       data={"csrf_token": csrf(admin, path), "desk": str(desks.legal.id)})
    assert moved.status_code == 200
    assert "encrypted to that desk's key alone" in moved.get_data(as_text=True)
    assert instance.desks.desk_of_source(source_id) == desks.legal.id
    assert not any(opens(instance, source_id, desk_keys(site, DEFAULT_DESK)))
    assert all(opens(instance, source_id, desk_keys(site, desks.legal.id)))
    alice, lena = logged_in(site, desks.alice), logged_in(site, desks.lena)
    assert alice.get(path).status_code == 404
    assert "this is for the lawyers" in lena.get(path).get_data(as_text=True)
    page = site.services.admin.audit.page(action="move source")
    assert [row.target for row in page.entries] == ["newsroom -> legal"]


def test_a_move_is_all_or_nothing(site: ReviewerSite, desks: Desks) -> None:
    instance = site.services.instance
    _, source_id = send(instance, DEFAULT_DESK, "half readable")
    legal_only = desk_keys(site, desks.legal.id)  # cannot open the newsroom desk's items
    with pytest.raises(InvalidInput) as refused:
        site.services.admin.moves.move(source_id, desks.legal.id, legal_only, by="admin")
    assert refused.value.code == "move_needs_keys"
    assert instance.desks.desk_of_source(source_id) == DEFAULT_DESK
    assert all(opens(instance, source_id, desk_keys(site, DEFAULT_DESK)))


def test_the_command_line_creates_desks_and_moves_with_the_recovery_identity(
    site: ReviewerSite, desks: Desks, tmp_path: Path
) -> None:
    instance = site.services.instance
    settings = instance.settings
    env = {"TIPBOX_DATA_DIR": str(settings.data_dir), "TIPBOX_KEYS_DIR": str(settings.keys_dir),
           "TIPBOX_MIN_FREE_BYTES": "0", **database_env_of(settings)}
    runner = CliRunner()
    created = runner.invoke(cli, ["desks", "create", "regional", "--name", "Regional bureau",
                                  "--member", "alice"], env=env)
    assert created.exit_code == 0, created.output
    listed = runner.invoke(cli, ["desks", "list"], env=env)
    assert "regional\topen\talice\t" in listed.output
    _, source_id = send(instance, DEFAULT_DESK, "for the region")
    designation = site.services.inbox.source(source_id).designation
    identity = tmp_path / "recovery.txt"
    identity.write_text(site.init.recovery_identity + "\n")
    moved = runner.invoke(cli, ["desks", "move", designation, "regional",
                                "--recovery-identity", str(identity)], env=env)
    assert moved.exit_code == 0, moved.output
    assert f"{designation}: newsroom -> regional" in moved.output
    regional = instance.desks.by_slug("regional")
    assert instance.desks.desk_of_source(source_id) == regional.id
    closed = runner.invoke(cli, ["desks", "close", "regional"], env=env)
    assert closed.exit_code == 0
    assert not instance.desks.by_slug("regional").is_open
    wrong = runner.invoke(cli, ["desks", "move", designation, "nowhere",
                                "--recovery-identity", str(identity)], env=env)
    assert wrong.exit_code == 1
    assert wrong.output.startswith("error: ")
