"""What the tests of moving an instance share: an SQLite instance built through the real
services, the command line in processes of its own, and looks into a PostgreSQL database.

:func:`populate` makes an instance with two desks, a second reviewer, desk
questions, sources with messages and files, a reply, a label, an
assignment, a deleted source (so SQLite's id counter is past the highest
id) and a rotated key.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg

from tests.desks.desk_kit import LEGAL_QUESTIONS, send
from tests.servers import ROOT, init_with_first_admin, instance_env, process_env
from tipbox.config import Settings, load_settings
from tipbox.crypto import parse_identity
from tipbox.services.accounts.totp import totp_code
from tipbox.services.desks.desks import DEFAULT_DESK, parse_texts
from tipbox.services.desks.questions import parse_question_texts
from tipbox.services.wiring import Instance, ReviewerServices, open_instance

PASSWORD = "correct horse battery staple"
REPLY = "Thank you. Can you send the 2025 figures?"


@dataclass
class Populated:
    """An instance under ``base`` and what a test checks it by."""

    env: dict[str, str]
    settings: Settings
    recovery: Path  # the file of the recovery identity
    totp_secret: bytes  # the admin's
    codename: str  # of the source that has the reply
    files: dict[str, bytes]  # each live source's message -> its file's bytes
    deleted_source: int  # the highest source id ever given out (that source is deleted)


def populate(base: Path, **extra: str) -> Populated:
    """A populated instance under ``base`` (SQLite unless ``extra`` says otherwise)."""
    env = instance_env(base, **extra)
    settings = load_settings(env)
    init, enrolment = init_with_first_admin(settings)
    recovery = base / "recovery.key"
    recovery.write_text(init.recovery_identity + "\n")
    recovery.chmod(0o600)
    instance = open_instance(settings)
    try:
        services = ReviewerServices.open(instance)
        then = time.time() - 60  # the enrolment's TOTP step is not the next login's
        pending = services.logins.login("admin", enrolment.password, "", now=then)
        services.logins.complete_enrolment(
            pending.token, PASSWORD, totp_code(enrolment.totp_secret, then), now=then)
        _desks_and_people(services, init.recovery_identity)
        codename, files, deleted = _sources(services)
    finally:
        instance.close()
    cli(env, "keys", "rotate", check=True)
    return Populated(env, settings, recovery, enrolment.totp_secret, codename, files, deleted)


def _desks_and_people(services: ReviewerServices, recovery_identity: str) -> None:
    """A legal desk with questions (the admin a member), alice on the default desk."""
    instance = services.instance
    admin = services.reviewers.by_username("admin").id
    legal = instance.desks.create("legal", parse_texts({"en": ("Legal desk", "Courts")}),
                                  members=[admin]).desk
    for kind, texts, required in LEGAL_QUESTIONS:
        instance.questions.add(legal.id, kind, parse_question_texts(kind, texts),
                               required=required)
    account, _ = services.reviewers.create("alice", desks=[DEFAULT_DESK])
    services.reviewers.grant(
        account, instance.keyring.open_identities(parse_identity(recovery_identity)))


def _sources(services: ReviewerServices) -> tuple[str, dict[str, bytes], int]:
    """Five sources on both desks with a file each, a sixth deleted; the first's codename."""
    instance: Instance = services.instance
    legal = instance.desks.by_slug("legal").id
    files: dict[str, bytes] = {}
    made: list[tuple[str, int]] = []
    for number in range(6):
        message = f"tip {number}"
        files[message] = os.urandom(30_000 + number)
        desk = DEFAULT_DESK if number % 2 == 0 else legal
        made.append(send(instance, desk, message, files={f"doc {number}.pdf": files[message]}))
    codename, first = made[0]
    instance.sources.add_reply(first, REPLY, author="admin")
    services.triage.add_label([first], "budget", by="admin")
    services.triage.assign([first], "alice", by="admin")
    deleted = made[-1][1]
    services.inbox.delete_source(deleted, reviewer="admin")
    del files["tip 5"]
    return codename, files, deleted


def cli(env: dict[str, str], *args: str | Path, check: bool = False,
        timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """``python -m tipbox ARGS`` in a process of its own, with the instance's ``env``."""
    done = subprocess.run(  # noqa: S603 - our own CLI
        [sys.executable, "-m", "tipbox", *map(str, args)], cwd=ROOT, env=process_env(env),
        capture_output=True, text=True, timeout=timeout, check=False,
    )
    if check:
        assert done.returncode == 0, done.stdout + done.stderr
    return done


def assert_one_line_error(done: subprocess.CompletedProcess[str], *fragments: str) -> None:
    """The command failed as every command does: one ``error:`` line, exit status 1."""
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stderr.startswith("error: "), done.stderr
    assert done.stderr.count("\n") == 1, done.stderr
    for fragment in fragments:
        assert fragment in done.stderr


def query(url: str, sql: str) -> list[tuple[object, ...]]:
    """Rows of ``sql`` in the PostgreSQL database ``url`` (a connection of its own)."""
    with psycopg.connect(url, autocommit=True) as conn:
        cursor = conn.execute(sql.encode())
        return list(cursor.fetchall()) if cursor.description else []


def objects(url: str) -> set[str]:
    """The tables, functions and collations of ``url``'s public schema."""
    return {f"{kind}:{name}" for kind, name in query(url, """
        SELECT 'table', table_name::text FROM information_schema.tables
            WHERE table_schema = 'public'
        UNION ALL SELECT 'function', proname::text FROM pg_proc
            WHERE pronamespace = 'public'::regnamespace
        UNION ALL SELECT 'collation', collname::text FROM pg_collation
            WHERE collnamespace = 'public'::regnamespace""")}
