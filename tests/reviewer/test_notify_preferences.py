"""Notification preferences per reviewer (issue 13): who is told what, and that it says nothing."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Sequence
from pathlib import Path

import pytest
from reviewer_kit import ADMIN_PASSWORD, Person, enrol, submit

from tests.conftest import make_test_settings
from tests.ops.smtp import Mailbox, SmtpServer, make_certificate
from tipbox.config import Settings
from tipbox.errors import InvalidInput
from tipbox.services.accounts.notifications import Preference, check_address
from tipbox.services.ops.notify import (
    BODY,
    NotifyFailed,
    Outcome,
    Watcher,
    is_due,
    notify_if_due,
)
from tipbox.services.wiring import Instance, ReviewerServices

PERIOD = 3600
T0 = 1_800_000_000 - 1_800_000_000 % PERIOD
DESK = "desk@newsroom.example"
CANARY = "canary-preferences-the-minister-lied"


class Recorder:
    """A channel that records what it would send, and can refuse chosen addresses."""

    def __init__(self) -> None:
        self.sent: list[tuple[tuple[str, ...], int]] = []
        self.refuse: set[str] = set()

    def deliver(self, to: Sequence[str], period_start: int) -> None:
        if self.refuse & set(to):
            raise NotifyFailed("the relay answered 550")
        self.sent.append((tuple(to), period_start))

    def told(self) -> list[str]:
        return sorted(address for to, _ in self.sent for address in to)


@pytest.fixture
def notifying(tmp_path: Path, instance: Instance) -> Settings:
    return make_test_settings(tmp_path, TIPBOX_NOTIFY_TO=DESK,
                              TIPBOX_NOTIFY_FROM="tipbox@newsroom.example",
                              TIPBOX_SMTP_HOST="mail.example")


@pytest.fixture
def bob(services: ReviewerServices, admin: Person) -> int:
    _, enrolment = services.admin.accounts.add("bob", is_admin=False)
    enrol(services, "bob", enrolment.password, enrolment.totp_secret, ADMIN_PASSWORD + " bob")
    return _id_of(services, "bob")


def _id_of(services: ReviewerServices, username: str) -> int:
    return next(a.id for a in services.admin.accounts.accounts() if a.username == username)


def _run(settings: Settings, channel: Recorder, period: int) -> Outcome:
    return notify_if_due(settings, now=lambda: T0 + period * PERIOD + 5, channel=channel)


def test_any_new_source_is_told_once_and_follow_ups_are_not(
    notifying: Settings, instance: Instance, services: ReviewerServices, admin: Person
) -> None:
    admin_id = _id_of(services, "admin")
    services.notifications.choose(admin_id, "new_sources", " admin@newsroom.example ", by="admin")
    channel = Recorder()
    tip = submit(instance)
    assert _run(notifying, channel, 1) is Outcome.SENT
    assert channel.told() == ["admin@newsroom.example", DESK]
    assert {start for _, start in channel.sent} == {T0 + PERIOD}
    assert _run(notifying, channel, 2) is Outcome.NOTHING_NEW  # nothing is told twice
    draft = instance.submissions.start(instance.sources.login(tip.codename))
    draft.add_message("a follow-up")
    draft.commit()
    channel.sent.clear()
    assert _run(notifying, channel, 3) is Outcome.SENT
    assert channel.told() == [DESK]  # a follow-up is no new source
    submit(instance, "another source")
    channel.sent.clear()
    _run(notifying, channel, 4)
    assert channel.told() == ["admin@newsroom.example", DESK]


def test_assigned_is_told_only_about_assigned_sources(
    notifying: Settings, instance: Instance, services: ReviewerServices, bob: int
) -> None:
    services.notifications.choose(bob, "assigned", "bob@newsroom.example", by="bob")
    channel = Recorder()
    mine, other = submit(instance, "mine"), submit(instance, "other")
    _run(notifying, channel, 1)
    assert channel.told() == [DESK]  # nothing assigned to bob yet
    services.triage.assign([mine.source_id], "bob", by="admin")
    for tip in (other, mine):
        draft = instance.submissions.start(instance.sources.login(tip.codename))
        draft.add_message("more")
        draft.commit()
        channel.sent.clear()
        _run(notifying, channel, 2 if tip is other else 3)
    assert channel.told() == ["bob@newsroom.example", DESK]
    channel.sent.clear()
    assert _run(notifying, channel, 4) is Outcome.NOTHING_NEW
    assert channel.sent == []


def test_nothing_no_address_or_a_disabled_account_is_never_told(
    notifying: Settings, instance: Instance, services: ReviewerServices, admin: Person, bob: int
) -> None:
    services.notifications.choose(_id_of(services, "admin"), "none", "admin@newsroom.example",
                                  by="admin")
    services.notifications.choose(bob, "new_sources", "", by="bob")
    submit(instance)
    channel = Recorder()
    _run(notifying, channel, 1)
    assert channel.told() == [DESK]
    services.notifications.choose(bob, "new_sources", "bob@newsroom.example", by="bob")
    services.admin.accounts.disable(bob, by="admin")
    submit(instance)
    channel.sent.clear()
    _run(notifying, channel, 2)
    assert channel.told() == [DESK]


def test_choosing_skips_the_backlog(
    notifying: Settings, instance: Instance, services: ReviewerServices, bob: int
) -> None:
    submit(instance)
    services.notifications.choose(bob, "new_sources", "bob@newsroom.example", by="bob")
    channel = Recorder()
    _run(notifying, channel, 1)
    assert channel.told() == [DESK]


def test_a_failed_reviewer_is_retried_alone(
    notifying: Settings, instance: Instance, services: ReviewerServices, admin: Person, bob: int
) -> None:
    services.notifications.choose(_id_of(services, "admin"), "new_sources",
                                  "admin@newsroom.example", by="admin")
    services.notifications.choose(bob, "new_sources", "bob@newsroom.example", by="bob")
    submit(instance)
    channel = Recorder()
    channel.refuse = {"bob@newsroom.example"}
    with pytest.raises(NotifyFailed):
        _run(notifying, channel, 1)
    assert channel.told() == ["admin@newsroom.example", DESK]
    channel.refuse.clear()
    channel.sent.clear()
    assert notify_if_due(notifying, now=lambda: T0 + PERIOD + 600, channel=channel) is (
        Outcome.SENT)
    assert channel.told() == ["bob@newsroom.example"]  # the others are not told twice


@pytest.mark.parametrize(
    ("preference", "new_source", "assigned", "due"),
    [
        (Preference.NONE, True, True, False),
        (Preference.NEW_SOURCES, True, False, True),
        (Preference.NEW_SOURCES, False, True, False),
        (Preference.ASSIGNED, True, False, False),
        (Preference.ASSIGNED, False, True, True),
    ],
)
def test_is_due_by_preference(
    preference: Preference, new_source: bool, assigned: bool, due: bool
) -> None:
    assert is_due(Watcher(1, preference, "a@b.example", new_source, assigned)) is due


@pytest.mark.parametrize(
    "bad",
    ["not an address", "a@b", "desk@newsroom.example\r\nBcc: spy@evil.example",
     "a@b.example, c@d.example", "<a@b.example>", "a" * 250 + "@b.example"],
)
def test_malformed_addresses_are_refused(
    bad: str, services: ReviewerServices, admin: Person
) -> None:
    with pytest.raises(InvalidInput):
        check_address(bad)
    admin_id = _id_of(services, "admin")
    with pytest.raises(InvalidInput):
        services.notifications.choose(admin_id, "new_sources", bad, by="admin")
    assert services.notifications.of(admin_id).preference is Preference.NONE
    with pytest.raises(InvalidInput):
        services.notifications.choose(admin_id, "everything", "", by="admin")


def test_a_reviewer_notice_through_the_relay_says_nothing(
    tmp_path: Path, instance: Instance, services: ReviewerServices, bob: int
) -> None:
    certificate = make_certificate(tmp_path)
    mailbox = Mailbox()
    password = tmp_path / "smtp-password"
    password.write_text("correct horse\n")
    services.notifications.choose(bob, "assigned", "bob@newsroom.example", by="bob")
    tip = submit(instance, CANARY)
    services.triage.assign([tip.source_id], "bob", by="admin")
    draft = instance.submissions.start(instance.sources.login(tip.codename))
    draft.add_message(CANARY + " again")
    draft.commit()
    with SmtpServer("starttls", *certificate, mailbox) as server:
        settings = make_test_settings(
            tmp_path, TIPBOX_NOTIFY_TO=DESK, TIPBOX_NOTIFY_FROM="tipbox@newsroom.example",
            TIPBOX_SMTP_HOST="127.0.0.1", TIPBOX_SMTP_PORT=str(server.port),
            TIPBOX_SMTP_USERNAME="tipbox", TIPBOX_SMTP_PASSWORD_FILE=str(password),
            TIPBOX_SMTP_CA_FILE=str(certificate[0]))
        assert notify_if_due(settings, now=lambda: T0 + 77) is Outcome.SENT
    by_recipient = {tuple(m.recipients): m for m in mailbox.messages}
    assert set(by_recipient) == {(DESK,), ("bob@newsroom.example",)}
    received = by_recipient[("bob@newsroom.example",)]
    assert received.tls
    message = email.message_from_bytes(received.data, policy=email.policy.default)
    assert message.get_content().replace("\r\n", "\n") == BODY  # type: ignore[attr-defined]
    for secret in (CANARY, tip.designation, "assigned", DESK):
        assert secret.encode() not in received.data
