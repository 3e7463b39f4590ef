"""Claims of sent forms shared by the workers (tipbox.services.submissions.sent_forms)."""

from __future__ import annotations

from pathlib import Path

from tipbox.services.submissions.receipts import new_form_token
from tipbox.services.submissions.sent_forms import SentForms
from tipbox.store.db import Database


def forms_on(tmp_path: Path, clock: list[float]) -> SentForms:
    db = Database(tmp_path / "tipbox.db")
    db.migrate()
    return SentForms(db, wait_seconds=1.0, clock=lambda: clock[0],
                     sleep=lambda seconds: clock.__setitem__(0, clock[0] + seconds))


def test_one_claim_per_form_and_the_winners_receipt_for_the_loser(tmp_path: Path) -> None:
    clock = [1_800_000_000.0]
    forms = forms_on(tmp_path, clock)
    token = new_form_token()
    assert forms.claim(token)
    assert not forms.claim(token)
    assert forms.wait(token) is None  # the winner has not finished: gives up after a while
    forms.keep(token, "sealed-receipt-text")
    assert forms.wait(token) == "sealed-receipt-text"
    assert forms.wait(new_form_token()) is None  # never claimed: nothing to wait for


def test_a_failed_commit_releases_its_claim(tmp_path: Path) -> None:
    forms = forms_on(tmp_path, [1_800_000_000.0])
    token = new_form_token()
    assert forms.claim(token)
    forms.release(token)
    assert forms.claim(token)


def test_claims_expire_and_the_row_opens_nothing_without_the_token(tmp_path: Path) -> None:
    clock = [1_800_000_000.0]
    forms = forms_on(tmp_path, clock)
    token = new_form_token()
    forms.claim(token)
    forms.keep(token, "codename words here")
    raw = (tmp_path / "tipbox.db").read_bytes() + b"".join(
        path.read_bytes() for path in tmp_path.glob("tipbox.db-*"))
    assert b"codename words here" not in raw
    assert token.encode() not in raw
    assert forms.forget_expired(now=clock[0]) == 0
    assert forms.forget_expired(now=clock[0] + 3 * 3600) == 1
    assert forms.claim(token)
