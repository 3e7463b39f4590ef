"""Key rotation never needs a new login (issue 13).

A ``full`` session keeps the reviewer's own identity sealed under its
session key, so grants made after login (a rotation, an admin's login)
reach it; a disabled account gains nothing; a stolen session row opens
nothing; a row sealed before this keeps the keys of its login. An item
that does not decrypt says why.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

import pytest
from reviewer_kit import Person, ReviewerSite, enrol, login, submit

from tipbox.crypto import SealError, unseal
from tipbox.services.accounts.reviewers import holder_name
from tipbox.services.accounts.sessions import NoSession, ReviewerSession, newsroom_secrets
from tipbox.services.custody.keyring import undecryptable_reason
from tipbox.services.inbox.conversations import Undecryptable
from tipbox.services.wiring import Instance, ReviewerServices
from tipbox.store.desks import DEFAULT_DESK
from tipbox.store.sessions import reseal_reviewer_session
from tipbox.web.errors import CODES

CAROL_PASSWORD = "carol's long enough password"


def add_carol(services: ReviewerServices, admin: Person) -> Person:
    """A reviewer who holds the first key (granted by the admin's next login)."""
    _, enrolment = services.admin.accounts.add("carol", is_admin=False)
    carol = enrol(services, "carol", enrolment.password, enrolment.totp_secret, CAROL_PASSWORD)
    login(services, admin)  # an admin's login grants the keys carol lacks
    return carol


def carol_id(services: ReviewerServices) -> int:
    return services.reviewers.by_username("carol").id


def load(services: ReviewerServices, token: str, person: Person) -> ReviewerSession:
    return services.sessions.load(token, now=person.clock[0])


def texts(services: ReviewerServices, source_id: int, session: ReviewerSession) -> list[str | None]:
    conversation = services.inbox.conversation(source_id, session.identities(),
                                               reviewer=session.username)
    return [entry.text for entry in conversation.entries if entry.kind == "message"]


def message_item(instance: Instance, source_id: int) -> int:
    with instance.store.db.connection() as conn:
        return int(conn.execute(
            "SELECT id FROM items WHERE source_id = ? AND kind = 'message'", (source_id,)
        ).fetchone()[0])


def session_row(instance: Instance, session: ReviewerSession) -> sqlite3.Row:
    with instance.store.db.connection() as conn:
        row: sqlite3.Row = conn.execute(
            "SELECT * FROM reviewer_sessions WHERE id_hash = ?", (session.id_hash,)
        ).fetchone()
    return row


def grants_of(instance: Instance, reviewer_id: int, key_id: int) -> int:
    with instance.store.db.connection() as conn:
        return int(conn.execute(
            "SELECT count(*) FROM grants WHERE holder = ? AND key_id = ?",
            (holder_name(reviewer_id), key_id),
        ).fetchone()[0])


# -- a live session takes later grants ----------------------------------------------------


def test_a_logged_in_reviewer_reads_what_arrives_after_a_rotation(
    services: ReviewerServices, instance: Instance, admin: Person
) -> None:
    carol = add_carol(services, admin)
    token, before = login(services, carol)
    assert len(before.identities()) == 1
    assert before.own_identity() is not None

    rotated = services.admin.rotation.rotate()
    after = submit(instance, "sent after the rotation")

    session = load(services, token, carol)
    assert rotated.key.recipient in session.held()
    assert [str(i.recipient()) for i in session.identities()][0] == rotated.key.recipient
    assert texts(services, after.source_id, session) == ["sent after the rotation"]
    download = services.inbox.open_file(after.source_id, message_item(instance, after.source_id),
                                        session.identities(), reviewer="carol")
    assert b"".join(download.chunks) == b"sent after the rotation"


def test_the_new_key_is_sealed_into_the_row_once(
    services: ReviewerServices, instance: Instance, admin: Person
) -> None:
    carol = add_carol(services, admin)
    token, _ = login(services, carol)
    rotated = services.admin.rotation.rotate()
    sealed = bytes(session_row(instance, load(services, token, carol))["sealed"])
    # The row now holds the new key itself: it no longer needs the grant...
    with instance.store.db.transaction() as conn:
        conn.execute("DELETE FROM grants WHERE holder = ? AND key_id = ?",
                     (holder_name(carol_id(services)), rotated.key.id))
    again = load(services, token, carol)
    assert rotated.key.recipient in again.held()
    # ... and a request that finds nothing new does not write it again.
    assert bytes(session_row(instance, again)["sealed"]) == sealed


def test_losing_the_reseal_race_changes_nothing(
    services: ReviewerServices, instance: Instance, admin: Person
) -> None:
    carol = add_carol(services, admin)
    token, session = login(services, carol)
    stale = bytes(session_row(instance, session)["sealed"])
    services.admin.rotation.rotate()
    won = bytes(session_row(instance, load(services, token, carol))["sealed"])
    assert won != stale
    with instance.store.db.transaction() as conn:
        assert not reseal_reviewer_session(conn, session.id_hash, old=stale, new=b"late")
    assert bytes(session_row(instance, session)["sealed"]) == won
    # A logged-out session is not revived by a late re-seal either.
    services.sessions.close(token)
    with instance.store.db.transaction() as conn:
        assert not reseal_reviewer_session(conn, session.id_hash, old=won, new=b"late")
    with pytest.raises(NoSession):
        load(services, token, carol)


def test_a_reviewer_disabled_after_login_cannot_gain_the_new_key(
    services: ReviewerServices, instance: Instance, admin: Person
) -> None:
    carol = add_carol(services, admin)
    token, session = login(services, carol)
    row = session_row(instance, session)
    services.admin.accounts.disable(carol_id(services))
    rotated = services.admin.rotation.rotate()
    login(services, admin)  # an admin's login grants nothing to a disabled account

    assert grants_of(instance, carol_id(services), rotated.key.id) == 0
    with pytest.raises(NoSession):
        load(services, token, carol)
    # Even with its row put back, the session of a disabled account is refused.
    with instance.store.db.transaction() as conn:
        conn.execute(
            "INSERT INTO reviewer_sessions (id_hash, reviewer_id, kind, created, last_seen,"
            " sealed) VALUES (?, ?, ?, ?, ?, ?)",
            (row["id_hash"], row["reviewer_id"], row["kind"], row["created"],
             row["last_seen"], row["sealed"]))
    with pytest.raises(NoSession):
        load(services, token, carol)


def test_a_stolen_session_row_opens_nothing(
    services: ReviewerServices, instance: Instance, admin: Person
) -> None:
    carol = add_carol(services, admin)
    token, _ = login(services, carol)
    services.admin.rotation.rotate()
    session = load(services, token, carol)
    own = session.own_identity()
    assert own is not None
    key = token.split(".")[1]
    row = session_row(instance, session)
    cells = b"".join(value if isinstance(value, bytes) else str(value).encode()
                     for value in tuple(row))
    secrets_ = [str(own), *(str(identity) for identity in session.identities())]
    for secret in [*secrets_, key, token.split(".")[0]]:
        assert secret.encode() not in cells
    database = b"".join(path.read_bytes() for path in instance.settings.data_dir.glob("*.db*"))
    assert database
    for secret in secrets_:
        assert secret.encode() not in database
    # Without the cookie's key the sealed secrets do not open, whatever key is tried.
    with pytest.raises(SealError):
        unseal(bytes(32), bytes(row["sealed"]), context=b"tipbox reviewer session|"
               + session.id_hash)
    sid = token.split(".")[0]
    with pytest.raises(NoSession):
        load(services, f"{sid}.{'A' * 43}", carol)


# -- rows sealed before the reviewer's identity was kept -----------------------------------


def test_an_old_session_row_keeps_its_login_keys_until_the_next_login(
    services: ReviewerServices, instance: Instance, admin: Person
) -> None:
    carol = add_carol(services, admin)
    _, current = login(services, carol)
    old_secrets = {"newsroom": current.secrets["newsroom"]}  # the format before issue 13
    token = services.sessions.open(carol_id(services), kind="full", secrets_=old_secrets,
                                   now=carol.clock[0])
    before = submit(instance, "sent before the rotation")
    services.admin.rotation.rotate()
    after = submit(instance, "sent after the rotation")

    old = load(services, token, carol)
    assert old.own_identity() is None
    assert len(old.identities()) == 1
    assert texts(services, before.source_id, old) == ["sent before the rotation"]
    with pytest.raises(Undecryptable) as refused:
        services.inbox.open_file(after.source_id, message_item(instance, after.source_id),
                                 old.identities(), reviewer="carol")
    assert refused.value.code == "item_key_not_granted"
    _, fresh = login(services, carol)
    assert texts(services, after.source_id, fresh) == ["sent after the rotation"]


def test_newsroom_secrets_without_an_own_identity_take_no_later_grant(
    services: ReviewerServices, instance: Instance, admin: Person
) -> None:
    carol = add_carol(services, admin)
    _, current = login(services, carol)
    token = services.sessions.open(carol_id(services), kind="full",
                                   secrets_=newsroom_secrets(current.identities()),
                                   now=carol.clock[0])
    services.admin.rotation.rotate()
    assert len(load(services, token, carol).identities()) == 1


# -- why an item does not decrypt --------------------------------------------------------


def set_item(instance: Instance, item_id: int, sql: str, *args: object) -> None:
    with instance.store.db.transaction() as conn:
        conn.execute(sql, (*args, item_id))


def refusal(services: ReviewerServices, instance: Instance, source_id: int,
            session: ReviewerSession) -> str:
    with pytest.raises(Undecryptable) as refused:
        services.inbox.open_file(source_id, message_item(instance, source_id),
                                 session.identities(), reviewer=session.username)
    return refused.value.code


@pytest.mark.parametrize(("damage", "code"), [
    (lambda i, item: None, "item_key_not_granted"),
    (lambda i, item: set_item(i, item, "UPDATE items SET key_id = NULL WHERE id = ?"),
     "item_for_source_only"),
    (lambda i, item: set_item(i, item, "UPDATE newsroom_keys SET state = 'destroyed'"
                              " WHERE id = (SELECT key_id FROM items WHERE id = ?)"),
     "item_key_destroyed"),
])
def test_an_item_without_its_key_says_why(
    services: ReviewerServices, instance: Instance, admin: Person,
    damage: Callable[[Instance, int], None], code: str,
) -> None:
    carol = add_carol(services, admin)
    _, session = login(services, carol)
    with instance.store.db.transaction() as conn:  # carol loses her only grant
        conn.execute("DELETE FROM grants WHERE holder = ?", (holder_name(carol_id(services)),))
    _, session = login(services, carol)
    assert session.identities() == []
    sent = submit(instance)
    damage(instance, message_item(instance, sent.source_id))
    assert refusal(services, instance, sent.source_id, session) == code
    assert CODES[code].status == 403


def test_a_damaged_item_says_it_is_damaged(
    services: ReviewerServices, instance: Instance, admin: Person
) -> None:
    _, session = login(services, admin)
    sent = submit(instance)
    item = message_item(instance, sent.source_id)
    with instance.store.db.connection() as conn:
        header = bytearray(conn.execute("SELECT header FROM items WHERE id = ?",
                                        (item,)).fetchone()[0])
    header[-2] ^= 1  # the header's MAC
    set_item(instance, item, "UPDATE items SET header = ? WHERE id = ?", bytes(header))
    assert refusal(services, instance, sent.source_id, session) == "item_damaged"


def test_the_reason_reads_only_public_key_facts(instance: Instance) -> None:
    active = instance.keyring.active_key(DEFAULT_DESK)
    assert undecryptable_reason(instance.store.db, active.id, []) == "item_key_not_granted"
    assert undecryptable_reason(instance.store.db, None, []) == "item_for_source_only"


# -- over the web --------------------------------------------------------------------------


def test_the_web_reviewer_reads_a_tip_sent_after_a_rotation_without_logging_in_again(
    make_site: Callable[..., ReviewerSite],
) -> None:
    site = make_site()
    services = site.services
    _, enrolment = services.admin.accounts.add("carol", is_admin=False)
    carol = enrol(services, "carol", enrolment.password, enrolment.totp_secret, CAROL_PASSWORD)
    site.clock.now = max(site.clock.now, carol.clock[0])
    site.log_in(site.client())  # the admin's login grants carol the first key
    reader = site.client()
    site.log_in(reader, carol)

    services.admin.rotation.rotate()
    sent = submit(services.instance, "sent after the rotation")

    page = reader.get(f"/sources/{sent.source_id}")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "sent after the rotation" in text
    assert "cannot be decrypted" not in text
    item = message_item(services.instance, sent.source_id)
    download = reader.get(f"/sources/{sent.source_id}/items/{item}/download")
    assert download.status_code == 200
    assert download.get_data() == b"sent after the rotation"


def test_the_web_page_of_an_item_without_a_grant_says_what_to_do(
    make_site: Callable[..., ReviewerSite],
) -> None:
    site = make_site()
    services = site.services
    _, enrolment = services.admin.accounts.add("carol", is_admin=False)
    carol = enrol(services, "carol", enrolment.password, enrolment.totp_secret, CAROL_PASSWORD)
    site.clock.now = max(site.clock.now, carol.clock[0])
    reader = site.client()
    site.log_in(reader, carol)  # no admin has logged in since: carol holds no key
    sent = submit(services.instance)
    item = message_item(services.instance, sent.source_id)

    refused = reader.get(f"/sources/{sent.source_id}/items/{item}/download")
    assert refused.status_code == 403
    text = refused.get_data(as_text=True)
    assert "This item cannot be decrypted" in text
    assert "Ask an admin to log in" in text
    # The conversation page says the same next to the message it cannot show.
    page = reader.get(f"/sources/{sent.source_id}").get_data(as_text=True)
    assert "You do not hold the key this item was encrypted to" in page
