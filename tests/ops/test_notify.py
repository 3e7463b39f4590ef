"""Notifications: one fixed notice per period, over TLS, revealing nothing."""

from __future__ import annotations

import email
import email.policy
import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.conftest import make_test_settings
from tests.ops.smtp import Mailbox, SmtpServer, make_certificate
from tipbox.cli import cli
from tipbox.config import NotifySettings, Settings, load_settings
from tipbox.errors import ConfigError
from tipbox.services.ops.notify import (
    BODY,
    LEGACY_STATE_FILE,
    SUBJECT,
    NotifyFailed,
    Outcome,
    notify_if_due,
)
from tipbox.services.wiring import Instance
from tipbox.store.db import open_database

PERIOD = 3600
T0 = 1_800_000_000 - 1_800_000_000 % PERIOD  # a period boundary
CANARY = "canary-notify-the-dam-is-leaking"


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    return make_certificate(tmp_path)


@pytest.fixture
def mailbox() -> Mailbox:
    return Mailbox()


@pytest.fixture(params=["starttls", "tls"])
def relay(
    request: pytest.FixtureRequest, certificate: tuple[Path, Path], mailbox: Mailbox
) -> Iterator[SmtpServer]:
    with SmtpServer(request.param, *certificate, mailbox) as server:
        yield server


def notify_env(tmp_path: Path, server: SmtpServer, cert: Path, **extra: str) -> dict[str, str]:
    password = tmp_path / "smtp-password"
    password.write_text("correct horse\n")
    return {
        "TIPBOX_NOTIFY_TO": "desk@newsroom.example, editor@newsroom.example",
        "TIPBOX_NOTIFY_FROM": "tipbox@newsroom.example",
        "TIPBOX_NOTIFY_PERIOD_SECONDS": str(PERIOD),
        "TIPBOX_SMTP_HOST": "127.0.0.1",
        "TIPBOX_SMTP_PORT": str(server.port),
        "TIPBOX_SMTP_SECURITY": server.mode,
        "TIPBOX_SMTP_USERNAME": "tipbox",
        "TIPBOX_SMTP_PASSWORD_FILE": str(password),
        "TIPBOX_SMTP_CA_FILE": str(cert),
        **extra,
    }


@pytest.fixture
def notifying(
    tmp_path: Path, instance: Instance, relay: SmtpServer, certificate: tuple[Path, Path]
) -> Settings:
    """Settings of ``instance`` with notifications to the test relay."""
    return make_test_settings(tmp_path, **notify_env(tmp_path, relay, certificate[0]))


def submit(instance: Instance) -> str:
    draft = instance.submissions.start(None)
    draft.add_message(CANARY)
    return draft.commit(want_codename=False).designation


def test_sends_one_fixed_notice_over_tls(
    notifying: Settings, instance: Instance, mailbox: Mailbox, relay: SmtpServer
) -> None:
    designation = submit(instance)
    assert notify_if_due(notifying, now=lambda: T0 + 1234) is Outcome.SENT

    [received] = mailbox.messages
    assert received.tls
    assert received.user == "tipbox"
    assert received.helo == "localhost"
    assert received.recipients == ["desk@newsroom.example", "editor@newsroom.example"]
    message = email.message_from_bytes(received.data, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    assert message["Subject"] == SUBJECT
    assert parsedate_to_datetime(message["Date"]).timestamp() == T0  # the period, not the moment
    assert message.get_content().replace("\r\n", "\n") == BODY
    assert message["Message-ID"].endswith("@tipbox.invalid>")
    for secret in (CANARY, designation, "1234"):
        assert secret.encode() not in received.data


def test_batches_at_most_one_notice_per_period(
    notifying: Settings, instance: Instance, mailbox: Mailbox
) -> None:
    def run(at: int) -> Outcome:
        return notify_if_due(notifying, now=lambda: at)

    assert run(T0) is Outcome.NOTHING_NEW
    submit(instance)  # arrives mid-period...
    for minute in (10, 20, 59):
        assert run(T0 + minute * 60) is Outcome.NOT_DUE  # ...and is not told until the next
    assert run(T0 + PERIOD + 30) is Outcome.SENT
    submit(instance)
    submit(instance)
    assert run(T0 + PERIOD + 600) is Outcome.NOT_DUE
    assert run(T0 + 2 * PERIOD + 5) is Outcome.SENT
    assert run(T0 + 3 * PERIOD + 5) is Outcome.NOTHING_NEW
    dates = [
        email.message_from_bytes(m.data, policy=email.policy.default)["Date"]
        for m in mailbox.messages
    ]
    assert [parsedate_to_datetime(d).timestamp() for d in dates] == [T0 + PERIOD, T0 + 2 * PERIOD]
    assert not (notifying.data_dir / LEGACY_STATE_FILE).exists()  # kept in the database


def test_a_failed_send_is_retried_within_the_period(
    notifying: Settings, instance: Instance, mailbox: Mailbox
) -> None:
    submit(instance)
    mailbox.password = "changed"
    with pytest.raises(NotifyFailed, match="the relay answered 535"):
        notify_if_due(notifying, now=lambda: T0 + 60)
    assert "correct horse" not in str(mailbox.messages)
    mailbox.password = "correct horse"
    assert notify_if_due(notifying, now=lambda: T0 + 360) is Outcome.SENT
    assert len(mailbox.messages) == 1


def test_refuses_a_relay_it_cannot_verify(
    tmp_path: Path, instance: Instance, relay: SmtpServer, certificate: tuple[Path, Path]
) -> None:
    env = notify_env(tmp_path, relay, certificate[0])
    del env["TIPBOX_SMTP_CA_FILE"]
    settings = make_test_settings(tmp_path, **env)
    submit(instance)
    with pytest.raises(NotifyFailed, match="CERTIFICATE_VERIFY_FAILED"):
        notify_if_due(settings, now=lambda: T0)


def test_disabled_by_default(settings: Settings, instance: Instance) -> None:
    submit(instance)
    assert notify_if_due(settings) is Outcome.DISABLED
    assert not (settings.data_dir / LEGACY_STATE_FILE).exists()
    assert settings.notify == NotifySettings()


@pytest.mark.parametrize(
    "bad",
    [
        {"TIPBOX_NOTIFY_TO": "desk@newsroom.example\r\nBcc: spy@evil.example"},
        {"TIPBOX_NOTIFY_FROM": "not an address"},
        {"TIPBOX_SMTP_HOST": ""},
        {"TIPBOX_SMTP_SECURITY": "none", "TIPBOX_SMTP_HOST": "mail.example"},
        {"TIPBOX_SMTP_SECURITY": "ssl3"},
        {"TIPBOX_NOTIFY_PERIOD_SECONDS": "60"},
    ],
)
def test_unsafe_or_malformed_settings_are_refused(tmp_path: Path, bad: dict[str, str]) -> None:
    env = {
        "TIPBOX_NOTIFY_TO": "desk@newsroom.example",
        "TIPBOX_NOTIFY_FROM": "tipbox@newsroom.example",
        "TIPBOX_SMTP_HOST": "mail.example",
        **bad,
    }
    with pytest.raises(ConfigError):
        make_test_settings(tmp_path, **env)


def test_plain_smtp_to_a_local_relay(
    tmp_path: Path, instance: Instance, certificate: tuple[Path, Path], mailbox: Mailbox
) -> None:
    with SmtpServer("plain", *certificate, mailbox) as server:
        env = notify_env(tmp_path, server, certificate[0], TIPBOX_SMTP_SECURITY="none")
        del env["TIPBOX_SMTP_USERNAME"]
        submit(instance)
        assert notify_if_due(make_test_settings(tmp_path, **env)) is Outcome.SENT
    assert not mailbox.messages[0].tls


def test_cli_notify(
    tmp_path: Path,
    instance: Instance,
    relay: SmtpServer,
    certificate: tuple[Path, Path],
    mailbox: Mailbox,
) -> None:
    env = {
        "TIPBOX_DATA_DIR": str(tmp_path / "data"),
        "TIPBOX_KEYS_DIR": str(tmp_path / "keys"),
        **notify_env(tmp_path, relay, certificate[0]),
    }
    submit(instance)
    runner = CliRunner()
    sent = runner.invoke(cli, ["notify"], env=env)
    assert sent.exit_code == 0, sent.output
    assert sent.output == "notify: notice sent\n"
    assert len(mailbox.messages) == 1
    again = runner.invoke(cli, ["notify"], env=env)
    assert again.exit_code == 0
    assert again.output == ""

    _forget_the_state(load_settings(env))
    failing = runner.invoke(cli, ["notify"], env={**env, "TIPBOX_SMTP_PORT": "1"})
    assert failing.exit_code == 1
    assert failing.output.startswith("error: could not send the notice via 127.0.0.1")
    assert failing.output.count("\n") == 1


def _forget_the_state(settings: Settings) -> None:
    """As if no notice had ever been sent (the desk's state rows are gone)."""
    database = open_database(settings)
    try:
        with database.transaction() as conn:
            conn.execute("DELETE FROM meta WHERE key LIKE 'notify_%'")
    finally:
        database.close()


def test_a_state_file_of_an_earlier_version_is_adopted(
    notifying: Settings, instance: Instance, mailbox: Mailbox
) -> None:
    """notify.json said the period was checked: no second notice; the file is gone."""
    submit(instance)
    legacy = notifying.data_dir / LEGACY_STATE_FILE
    legacy.write_text(json.dumps({"announced": 10**6, "checked_period": T0 // PERIOD}))
    assert notify_if_due(notifying, now=lambda: T0 + 60) is Outcome.NOT_DUE
    assert not legacy.exists()
    assert notify_if_due(notifying, now=lambda: T0 + 60) is Outcome.NOT_DUE  # now in the database
    assert notify_if_due(notifying, now=lambda: T0 + PERIOD + 5) is Outcome.NOTHING_NEW
    assert mailbox.messages == []


@pytest.mark.parametrize("database_backend", ["postgresql"])
def test_timers_on_two_hosts_send_a_periods_notice_once(
    tmp_path: Path, instance: Instance, database_env: dict[str, str], relay: SmtpServer,
    certificate: tuple[Path, Path], mailbox: Mailbox,
) -> None:
    """Two hosts (own data directories, one database) run their notify timers at once."""
    submit(instance)
    hosts = [
        make_test_settings(tmp_path / host, **database_env,
                           **notify_env(tmp_path, relay, certificate[0]))
        for host in ("host-1", "host-2")
    ]
    with ThreadPoolExecutor(2) as pool:
        outcomes = list(pool.map(lambda host: notify_if_due(host, now=lambda: T0 + 5), hosts))
    assert sorted(outcome.name for outcome in outcomes) == ["NOT_DUE", "SENT"]
    assert len(mailbox.messages) == 1
