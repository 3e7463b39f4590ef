"""The receipt box: sealed receipts, their expiry, the bounded per-process memory."""

from __future__ import annotations

import threading

import pytest

from tipbox.services.submissions.intake import Receipt
from tipbox.services.submissions.receipts import (
    MAX_LISTED_FILES,
    MAX_NAME_CHARS,
    MAX_NAMES_BYTES,
    ReceiptBox,
    ShownFile,
    ShownReceipt,
    is_form_token,
    new_form_token,
    receipt_key,
    token_hash,
)

KEY = receipt_key(b"instance secret" * 2)


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def shown(codename: str | None = "alpha beta gamma") -> ShownReceipt:
    receipt = Receipt(codename=codename, designation="quiet otter",
                      files=(("a.pdf", 1500), ("b.txt", 10)), has_message=True)
    return ShownReceipt.of(receipt)


def test_a_sealed_receipt_opens_for_its_form_only() -> None:
    box = ReceiptBox(KEY)
    hashed, other = token_hash(new_form_token()), token_hash(new_form_token())
    sealed = box.seal(hashed, shown())
    opened = box.open(hashed, sealed)
    assert opened is not None
    assert opened.codename == "alpha beta gamma"
    assert opened.files == (ShownFile("a.pdf", 1500), ShownFile("b.txt", 10))
    assert (opened.file_count, opened.total_bytes, opened.has_message) == (2, 1510, True)
    assert "alpha" not in sealed
    assert "a.pdf" not in sealed
    assert box.open(other, sealed) is None
    assert ReceiptBox(receipt_key(b"another secret" * 2)).open(hashed, sealed) is None


@pytest.mark.parametrize("garbage", [None, 3, "", "not base64!", "AAAA", "x" * 5000])
def test_anything_else_opens_to_none(garbage: object) -> None:
    assert ReceiptBox(KEY).open(token_hash("t"), garbage) is None


def test_a_tampered_receipt_opens_to_none() -> None:
    box = ReceiptBox(KEY)
    sealed = box.seal("ab" * 32, shown())
    flipped = sealed[:20] + ("A" if sealed[20] != "A" else "B") + sealed[21:]
    assert box.open("ab" * 32, flipped) is None


def test_receipts_expire_in_the_seal_and_in_memory() -> None:
    clock = Clock()
    box = ReceiptBox(KEY, lifetime=600, clock=clock)
    sealed = box.seal("cd" * 32, shown())
    clock.now += 599
    assert box.open("cd" * 32, sealed) is not None
    assert box.recall("cd" * 32) == sealed
    clock.now += 1
    assert box.open("cd" * 32, sealed) is None
    assert box.recall("cd" * 32) is None
    assert not box.sent("cd" * 32)


def test_memory_is_bounded_and_forgetting_keeps_the_form_known() -> None:
    box = ReceiptBox(KEY, max_entries=3)
    hashes = [token_hash(str(number)) for number in range(4)]
    for hashed in hashes:
        box.seal(hashed, shown())
    assert box.recall(hashes[0]) is None  # the oldest went first
    assert all(box.recall(hashed) for hashed in hashes[1:])
    box.forget(hashes[1])
    assert box.recall(hashes[1]) is None
    assert box.sent(hashes[1])


def test_the_lock_is_the_same_for_the_same_form() -> None:
    box = ReceiptBox(KEY)
    hashed = token_hash(new_form_token())
    assert box.lock(hashed) is box.lock(hashed)
    assert isinstance(box.lock(hashed), type(threading.Lock()))


def test_the_list_is_bounded_but_the_counts_are_whole() -> None:
    files = tuple((f"{'я' * 200}-{number}.pdf", number) for number in range(20))
    receipt = ShownReceipt.of(Receipt(codename=None, designation="d", files=files))
    assert receipt.file_count == 20
    assert receipt.total_bytes == sum(range(20))
    assert len(receipt.files) <= MAX_LISTED_FILES
    assert receipt.unlisted == 20 - len(receipt.files)
    assert all(len(listed.name) <= MAX_NAME_CHARS for listed in receipt.files)
    assert receipt.files[0].name.endswith("…")
    assert sum(len(listed.name.encode()) for listed in receipt.files) <= MAX_NAMES_BYTES


def test_repr_shows_neither_codename_nor_names() -> None:
    text = repr(shown()) + repr(Receipt("alpha beta", "d", (("a.pdf", 1),), True))
    assert "alpha" not in text
    assert "a.pdf" not in text


def test_form_tokens_are_fresh_and_hashed() -> None:
    first, second = new_form_token(), new_form_token()
    assert first != second
    assert len(first) == 43
    assert token_hash(first) != token_hash(second)
    assert len(token_hash(first)) == 64
    assert is_form_token(first)
    assert not is_form_token(first[:-1])
    assert not is_form_token(first[:-1] + "/")
