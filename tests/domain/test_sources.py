"""Codename login without an oracle, and replies a source reads and deletes."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from tests.conftest import make_test_settings
from tests.domain.conftest import Reader
from tipbox.codenames import Codename
from tipbox.crypto import DecryptionError, decrypt_detached
from tipbox.errors import AuthenticationFailed, Busy, InvalidInput, NotFound, TooLarge
from tipbox.passwords import Argon2Params, CodenameKeys
from tipbox.services.instance import init_instance
from tipbox.services.sources.returning import CodenameKdf, Purpose
from tipbox.services.wiring import Instance, open_instance
from tipbox.store.db import Database
from tipbox.store.desks import DEFAULT_DESK


def new_source(instance: Instance, *, want_codename: bool = True) -> tuple[str | None, int]:
    draft = instance.submissions.start(None)
    draft.add_message("tip")
    receipt = draft.commit(want_codename=want_codename)
    with instance.store.db.connection() as conn:
        source_id = conn.execute(
            "SELECT id FROM sources WHERE designation = ?", (receipt.designation,)
        ).fetchone()[0]
    return receipt.codename, int(source_id)


def test_login_with_the_codename_in_any_typing(instance: Instance) -> None:
    codename, source_id = new_source(instance)
    assert codename is not None
    for typed in (codename, codename.upper(), "  " + codename.replace(" ", "\n  ") + " "):
        login = instance.sources.login(typed)
        assert login.source_id == source_id
    assert codename.split()[0] not in repr(login)


def test_unknown_wrong_and_malformed_codenames_take_the_same_path(
    instance: Instance, monkeypatch: pytest.MonkeyPatch
) -> None:
    codename, _ = new_source(instance)
    assert codename is not None
    derivations: list[str] = []
    real_keys = CodenameKdf.keys

    def counting(self: CodenameKdf, text: str, *, purpose: Purpose) -> CodenameKeys:
        derivations.append(text)
        return real_keys(self, text, purpose=purpose)

    monkeypatch.setattr(CodenameKdf, "keys", counting)
    wrong = codename.rsplit(" ", 1)[0] + (" abacus" if not codename.endswith("abacus") else " zoom")
    attempts = [str(Codename.generate()), wrong, "not a codename at all", "", "x" * 5000]
    messages = set()
    for attempt in attempts:
        with pytest.raises(AuthenticationFailed) as caught:
            instance.sources.login(attempt)
        messages.add(str(caught.value))
    assert len(derivations) == len(attempts)  # one Argon2 run each, valid or not
    assert messages == {"that codename is not known here"}


def test_reply_round_trip_and_delete(instance: Instance, reader: Reader) -> None:
    codename, source_id = new_source(instance)
    assert codename is not None
    first = instance.sources.add_reply(
        source_id, "Thank you. Can you send more?", author="reviewer"
    )
    second = instance.sources.add_reply(source_id, "Second reply ✓", author="reviewer")
    login = instance.sources.login(codename)
    replies = instance.sources.replies(login)
    assert [(r.id, r.text) for r in replies] == [
        (first, "Thank you. Can you send more?"),
        (second, "Second reply ✓"),
    ]
    assert replies[0].hour.minute == replies[0].hour.second == 0
    assert replies[0].hour.tzinfo is not None
    # The newsroom can read its own replies too.
    texts = [item.plaintext for item in reader.items() if item.kind == "reply"]
    assert texts == [b"Thank you. Can you send more?", "Second reply ✓".encode()]

    instance.sources.delete_reply(login, first)
    assert [r.id for r in instance.sources.replies(login)] == [second]
    with pytest.raises(NotFound):
        instance.sources.delete_reply(login, first)


def test_a_source_deletes_its_copy_and_the_newsroom_keeps_its_own(
    instance: Instance, reader: Reader
) -> None:
    codename, source_id = new_source(instance)
    assert codename is not None
    reply = instance.sources.add_reply(source_id, "Can you send the memo?", author="reviewer")
    login = instance.sources.login(codename)
    instance.sources.delete_reply(login, reply)
    with instance.store.db.connection() as conn:
        row = conn.execute(
            "SELECT header, blob, source_deleted_hour FROM items WHERE id = ?", (reply,)
        ).fetchone()
    assert row["source_deleted_hour"] is not None
    with instance.store.blobs.open_blob(row["blob"]) as payload, pytest.raises(DecryptionError):
        b"".join(decrypt_detached([login.identity], row["header"], payload))
    kept = [item.plaintext for item in reader.items() if item.id == reply]
    assert kept == [b"Can you send the memo?"]
    assert instance.sources.replies(login) == []


def test_a_reply_without_a_newsroom_copy_is_shredded(instance: Instance) -> None:
    codename, source_id = new_source(instance)
    assert codename is not None
    reply = instance.sources.add_reply(source_id, "only for the source", author="reviewer")
    with instance.store.db.transaction() as conn:
        blob = conn.execute(
            "UPDATE items SET key_id = NULL WHERE id = ? RETURNING blob", (reply,)
        ).fetchone()[0]
    instance.sources.delete_reply(instance.sources.login(codename), reply)
    assert blob not in os.listdir(instance.store.blobs.path)
    with instance.store.db.connection() as conn:
        assert conn.execute("SELECT count(*) FROM items WHERE id = ?", (reply,)).fetchone()[0] == 0


def test_the_hour_a_source_first_sees_a_reply_is_kept(instance: Instance) -> None:
    codename, source_id = new_source(instance)
    assert codename is not None
    reply = instance.sources.add_reply(source_id, "hello", author="reviewer")

    def seen() -> int | None:
        with instance.store.db.connection() as conn:
            return conn.execute(
                "SELECT source_seen_hour FROM items WHERE id = ?", (reply,)
            ).fetchone()[0]

    assert seen() is None
    login = instance.sources.login(codename)
    instance.sources.replies(login)
    first = seen()
    assert first is not None
    assert first % 3600 == 0
    instance.sources.replies(login)
    assert seen() == first


def test_a_source_cannot_touch_anothers_replies(instance: Instance) -> None:
    alice_code, alice = new_source(instance)
    bob_code, bob = new_source(instance)
    assert alice_code is not None
    assert bob_code is not None
    reply = instance.sources.add_reply(alice, "for alice", author="reviewer")
    bob_login = instance.sources.login(bob_code)
    assert instance.sources.replies(bob_login) == []
    with pytest.raises(NotFound):
        instance.sources.delete_reply(bob_login, reply)
    with pytest.raises(NotFound):  # a submission item is not a reply either
        instance.sources.delete_reply(bob_login, 1)
    assert [r.text for r in instance.sources.replies(instance.sources.login(alice_code))] == [
        "for alice"
    ]


def test_reply_is_encrypted_to_the_source_identity(instance: Instance) -> None:
    codename, source_id = new_source(instance)
    assert codename is not None
    reply_id = instance.sources.add_reply(
        source_id, "only you and the newsroom", author="reviewer"
    )
    login = instance.sources.login(codename)
    with instance.store.db.connection() as conn:
        row = conn.execute("SELECT header, blob FROM items WHERE id = ?", (reply_id,)).fetchone()
    with instance.store.blobs.open_blob(row["blob"]) as payload:
        data = b"".join(decrypt_detached([login.identity], row["header"], payload))
    assert data == b"only you and the newsroom"


def test_replies_need_a_codename_and_a_real_source(instance: Instance) -> None:
    _, anonymous = new_source(instance, want_codename=False)
    with pytest.raises(InvalidInput, match="without a codename"):
        instance.sources.add_reply(anonymous, "hello?", author="reviewer")
    with pytest.raises(NotFound):
        instance.sources.add_reply(9999, "hello?", author="reviewer")
    assert len(os.listdir(instance.store.blobs.path)) == 1  # the tip only


def test_reply_text_limits(instance: Instance) -> None:
    _, source_id = new_source(instance)
    with pytest.raises(InvalidInput):
        instance.sources.add_reply(source_id, "  ", author="reviewer")
    too_long = "x" * (instance.settings.max_message_chars + 1)
    with pytest.raises(TooLarge):
        instance.sources.add_reply(source_id, too_long, author="reviewer")


def test_classic_instance_sources_and_replies(tmp_path: Path) -> None:
    settings = make_test_settings(tmp_path)
    init_instance(settings, classic=True)
    instance = open_instance(settings)
    codename, source_id = new_source(instance)
    assert codename is not None
    with instance.store.db.connection() as conn:
        recipient = conn.execute("SELECT reply_recipient FROM sources").fetchone()[0]
    assert recipient.startswith("age1")
    assert not recipient.startswith("age1pq1")
    reply = instance.sources.add_reply(source_id, "classic reply", author="reviewer")
    with instance.store.db.connection() as conn:
        key_id = conn.execute("SELECT key_id FROM items WHERE id = ?", (reply,)).fetchone()[0]
    assert key_id == instance.keyring.active_key(DEFAULT_DESK).id
    login = instance.sources.login(codename)
    assert [r.text for r in instance.sources.replies(login)] == ["classic reply"]
    instance.close()


def test_codename_parameters_are_fixed_at_init(tmp_path: Path) -> None:
    settings = make_test_settings(tmp_path)
    init_instance(settings)
    instance = open_instance(settings)
    codename, _ = new_source(instance)
    assert codename is not None
    instance.close()
    # Raising the configured cost later must not lock existing sources out.
    later = make_test_settings(tmp_path, TIPBOX_CODENAME_ARGON2_TIME_COST="2")
    reopened = open_instance(later)
    reopened.sources.login(codename)
    reopened.close()


def test_codename_derivations_are_capped_and_a_login_flood_gets_busy(tmp_path: Path) -> None:
    kdf = dataclasses.replace(
        CodenameKdf.with_slots_in(
            tmp_path, Database(tmp_path / "tipbox.db"), salt=b"s" * 16,
            params=Argon2Params(1, 8, 1),
        ),
        login_wait_seconds=0.05,
        submission_wait_seconds=0.05,
    )
    assert kdf.keys("one two three four five six seven", purpose="login").lookup_id
    with kdf.login_slots.slot(wait_seconds=0):  # a login check in progress elsewhere
        with pytest.raises(Busy):
            kdf.keys("one two three four five six seven", purpose="login")
        # First submissions draw on their own slots: the busy login pool is no concern.
        assert kdf.keys("one two three four five six seven", purpose="submission").lookup_id
    with kdf.submission_slots.slot(wait_seconds=0), kdf.submission_slots.slot(wait_seconds=0):
        with pytest.raises(Busy):
            kdf.keys("one two three four five six seven", purpose="submission")
        assert kdf.keys("one two three four five six seven", purpose="login").lookup_id
