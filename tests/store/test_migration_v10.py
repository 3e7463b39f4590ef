"""Schema 10 (security keys, issue 17) on a database made by schema 9: nothing lost."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tipbox.store.db import MIGRATIONS, connect, migrate, schema_version
from tipbox.store.security_keys import (
    NewCredential,
    advance_sign_count,
    insert_challenge,
    insert_credential,
    take_challenge,
)

#: Earlier releases made SQLite instances only: their upgrades are SQLite's.
pytestmark = pytest.mark.sqlite_only


def _version_9(path: Path) -> sqlite3.Connection:
    conn = connect(path)
    assert migrate(conn, MIGRATIONS[:9]) == 9
    for name in ("ana", "ben"):
        conn.execute("INSERT INTO reviewers (username, is_admin, active, recipient,"
                     " password_params, password_salt, verifier, sealed_identity, sealed_totp,"
                     " totp_last_step, created_hour) VALUES (?, 1, 1, 'age1', 'p', x'01', x'02',"
                     " x'03', x'04', 7, 0)", (name,))
    return conn


def _credential(reviewer_id: int, credential_id: bytes, *, sealed: bool) -> NewCredential:
    seal = b"s" if sealed else None
    return NewCredential(reviewer_id, credential_id, b"cose", 1, "usb", "blue key", "localhost",
                         0, b"salt" if sealed else None, seal, seal)


def test_version_10_adds_the_tables_and_keeps_every_account(tmp_path: Path) -> None:
    conn = _version_9(tmp_path / "tipbox.db")
    before = [tuple(r) for r in conn.execute("SELECT * FROM reviewers")]
    assert migrate(conn) == len(MIGRATIONS) >= 10
    assert schema_version(conn) == len(MIGRATIONS)
    assert [tuple(r) for r in conn.execute("SELECT * FROM reviewers")] == before
    insert_credential(conn, _credential(1, b"a", sealed=True))
    insert_credential(conn, _credential(1, b"b", sealed=False))
    insert_credential(conn, _credential(2, b"c", sealed=False))
    with pytest.raises(sqlite3.IntegrityError):  # one credential, one account
        insert_credential(conn, _credential(2, b"a", sealed=False))
    with pytest.raises(sqlite3.IntegrityError):  # salt and seals come together
        insert_credential(conn, _credential(1, b"d", sealed=False)._replace(prf_salt=b"x"))
    conn.execute("DELETE FROM reviewers WHERE username = 'ana'")  # a delete or a reset
    assert [bytes(r[0]) for r in conn.execute("SELECT credential_id FROM webauthn_credentials")
            ] == [b"c"]
    conn.close()


def test_the_counter_is_a_compare_and_swap(tmp_path: Path) -> None:
    conn = _version_9(tmp_path / "tipbox.db")
    migrate(conn)
    row = insert_credential(conn, _credential(1, b"a", sealed=False))
    assert advance_sign_count(conn, row, old=1, new=5)
    assert not advance_sign_count(conn, row, old=1, new=6)  # the loser of a race
    with pytest.raises(sqlite3.IntegrityError):
        advance_sign_count(conn, row, old=5, new=-1)
    conn.close()


def test_a_challenge_is_taken_once_by_its_purpose_and_binding_before_it_expires(
        tmp_path: Path) -> None:
    conn = _version_9(tmp_path / "tipbox.db")
    migrate(conn)

    def keep(name: bytes, expires: float = 100.0) -> None:
        insert_challenge(conn, name, purpose="login", binding=b"me", prf_salt=None,
                         expires=expires, now=0.0)

    keep(b"1")
    assert take_challenge(conn, b"1", purpose="login", binding=b"me", now=1.0) is not None
    assert take_challenge(conn, b"1", purpose="login", binding=b"me", now=1.0) is None
    keep(b"2")
    assert take_challenge(conn, b"2", purpose="login", binding=b"you", now=1.0) is None
    assert take_challenge(conn, b"2", purpose="login", binding=b"me", now=1.0) is None  # gone
    keep(b"3")
    assert take_challenge(conn, b"3", purpose="register", binding=b"me", now=1.0) is None
    keep(b"4", expires=10.0)
    assert take_challenge(conn, b"4", purpose="login", binding=b"me", now=10.0) is None
    keep(b"5", expires=10.0)
    insert_challenge(conn, b"6", purpose="login", binding=b"you", prf_salt=None, expires=99.0,
                     now=11.0)  # purges what expired
    assert conn.execute("SELECT count(*) FROM webauthn_challenges").fetchone()[0] == 1
    keep(b"7")
    keep(b"8")  # a new ceremony of the same binding replaces the one before
    assert take_challenge(conn, b"7", purpose="login", binding=b"me", now=1.0) is None
    assert take_challenge(conn, b"8", purpose="login", binding=b"me", now=1.0) is not None
    conn.close()
