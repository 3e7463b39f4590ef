"""Shared recovery: the recovery identity as M-of-N SLIP-39 word shares (issue 17).

A custody factor (architecture, section 5: "a factor yields a key"): any M
of the N shares, together, yield the recovery identity, the key that opens
every recovery grant and every backup; fewer than M yield nothing about it
(Shamir's scheme over GF(256), as SLIP-39 specifies; ``shamir-mnemonic`` is
Trezor's reference implementation).

**The secret that is split** (34 bytes, :func:`encode_secret`)::

    byte 0      1  (FORMAT: this layout)
    byte 1      1  X25519 ``AGE-SECRET-KEY-1...``
                2  mlkem768x25519 ``AGE-SECRET-KEY-PQ-1...``
    bytes 2-33  the 32 bytes the identity's Bech32 string carries
                (the X25519 scalar, or the post-quantum seed)

Both kinds round-trip exactly: :func:`decode_secret` rebuilds the same
identity string. SLIP-39 wants a master secret of at least 16 bytes and an
even length; 34 bytes give shares of 35 words (7 words of metadata and
checksum, 28 of value). Any SLIP-39 implementation recovers the 34 bytes
(e.g. ``shamir recover`` of the same package): drop the two header bytes and
Bech32-encode the rest under ``age-secret-key-`` or ``age-secret-key-pq-``,
in upper case, to get the identity file's line back.

**Passphrase** (optional, SLIP-39's own): it encrypts the secret before the
split, so M shares without it yield a different 34-byte value. SLIP-39 has
no check for it; the two header bytes are one (a wrong passphrase passes
them with odds 1 in 32,768), and the caller compares the recipient with the
instance's recovery recipient or tries the backup.

**Security contract.** Shares, the passphrase and the secret are key
material: nothing here stores, logs or repeats them. Error messages name a
share by where it was read and a word by its position, never by its value.
Every failure raises :class:`ShareError` (an :class:`InvalidInput`) with one
line of English: a word not in the SLIP-39 list, a wrong word count, a
checksum that fails (a mistyped or swapped word: RS1024 detects up to three
wrong words), shares of different splits, two different shares with the
same number, fewer shares than the threshold, shares that do not fit
together, a secret that is not a recovery identity.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from shamir_mnemonic import (  # type: ignore[import-untyped]
    EncryptedMasterSecret,
    MnemonicError,
    Share,
    decode_mnemonics,
    generate_mnemonics,
    recover_ems,
)
from shamir_mnemonic.wordlist import WORD_INDEX_MAP  # type: ignore[import-untyped]

from tipbox.crypto import HybridIdentity, X25519Identity, bech32
from tipbox.errors import InvalidInput

__all__ = [
    "FORMAT",
    "MAX_SHARES",
    "SHARE_WORDS",
    "RecoveryShare",
    "RecoveryShares",
    "ShareError",
    "check_split",
    "combine_shares",
    "decode_secret",
    "encode_secret",
    "read_share",
    "split_identity",
]

RecoveryIdentity = X25519Identity | HybridIdentity

#: The first byte of the split secret: the layout of the module docstring.
FORMAT = 1
_KINDS: dict[int, tuple[str, type[RecoveryIdentity]]] = {
    1: ("age-secret-key-", X25519Identity),
    2: ("age-secret-key-pq-", HybridIdentity),
}
_SECRET_SIZE = 34
#: The words of one share of a 34-byte secret.
SHARE_WORDS = 35
#: SLIP-39's limit on the number of shares of one group.
MAX_SHARES = 16


class ShareError(InvalidInput):
    """Shares that do not yield a recovery identity; the message is one line."""

    code = "invalid_share"


@dataclass(frozen=True, slots=True, repr=False)
class RecoveryShare:
    """One SLIP-39 share, and where it was read (``where`` names it in messages).

    ``split_id`` (SLIP-39's 15-bit identifier, the first two words) is the
    same for every share of one split; ``number`` is the share's index
    (0-based, as SLIP-39 encodes it) and ``threshold`` the M of its split.
    The share's value is secret: ``repr`` does not show it.
    """

    share: Share
    where: str

    @property
    def split_id(self) -> int:
        return int(self.share.identifier)

    @property
    def number(self) -> int:
        return int(self.share.index)

    @property
    def threshold(self) -> int:
        return int(self.share.member_threshold)


def encode_secret(identity: RecoveryIdentity) -> bytes:
    """The 34 bytes that are split: format, kind, the identity's 32 bytes."""
    hrp, data = bech32.decode(str(identity).lower())
    kind = next(k for k, (prefix, _) in _KINDS.items() if prefix == hrp)
    return bytes([FORMAT, kind]) + data


def decode_secret(secret: bytes) -> RecoveryIdentity:
    """The identity :func:`encode_secret` encoded; :class:`ShareError` if it is not one."""
    if len(secret) != _SECRET_SIZE or secret[0] != FORMAT or secret[1] not in _KINDS:
        raise ShareError(
            "the shares do not hold a tipbox recovery identity"
            " (a wrong or missing passphrase gives this too)"
        )
    _, cls = _KINDS[secret[1]]
    return cls(secret[2:])


def split_identity(
    identity: RecoveryIdentity, *, threshold: int, count: int, passphrase: str = ""
) -> list[str]:
    """``count`` mnemonics (35 words each), any ``threshold`` of which yield ``identity``.

    One SLIP-39 group, ``threshold`` of ``count`` members; 2 <= threshold
    <= count <= 16 (SLIP-39 forbids 1-of-N for N > 1). A new random split
    identifier each call, so shares of two splits never combine. The result
    is checked by combining the first ``threshold`` shares before it is
    returned. Raises :class:`ShareError` for other numbers or a passphrase
    that is not printable ASCII.
    """
    check_split(threshold, count)
    mnemonics: list[str] = generate_mnemonics(
        1, [(threshold, count)], encode_secret(identity), _passphrase_bytes(passphrase)
    )[0]
    shares = [read_share(text, f"share {n}") for n, text in enumerate(mnemonics, start=1)]
    if str(combine_shares(shares[:threshold], passphrase=passphrase)) != str(identity):
        raise ShareError("the shares did not give the identity back")  # pragma: no cover
    return mnemonics


def check_split(threshold: int, count: int) -> None:
    """Refuse (:class:`ShareError`) a split SLIP-39 cannot make: 2 <= M <= N <= 16."""
    if not 2 <= threshold <= count <= MAX_SHARES:
        raise ShareError(
            f"a split needs 2 <= threshold <= shares <= {MAX_SHARES}"
            f" (got a threshold of {threshold} for {count} shares)"
        )


def read_share(text: str, where: str) -> RecoveryShare:
    """Parse one share's words (any case and spacing); ``where`` names it in errors."""
    words = text.lower().split()
    for position, word in enumerate(words, start=1):
        if word not in WORD_INDEX_MAP:
            raise ShareError(f"{where}: word {position} is not a SLIP-39 word")
    if len(words) != SHARE_WORDS:
        raise ShareError(
            f"{where}: {len(words)} words, but a share of a recovery identity has {SHARE_WORDS}"
        )
    try:
        share = Share.from_mnemonic(" ".join(words))
    except MnemonicError:
        raise ShareError(f"{where}: its checksum fails: a word is wrong") from None
    if share.group_count != 1:
        raise ShareError(f"{where}: a share with groups, which tipbox does not make")
    return RecoveryShare(share, where)


def combine_shares(shares: Sequence[RecoveryShare], *, passphrase: str = "") -> RecoveryIdentity:
    """The recovery identity that ``shares`` (at least the threshold of one split) yield.

    Shares may come in any order; a share given twice counts once. Every
    share must belong to the same split; when more than the threshold are
    given, each extra share must also fit (recombined in place of one of
    the first ones), so a wrong share is found wherever it is.
    """
    if not shares:
        raise ShareError("no shares given")
    _same_split(shares)
    distinct = _distinct(shares)
    needed = distinct[0].threshold
    if len(distinct) < needed:
        raise ShareError(
            f"too few shares: {len(distinct)} given (each counted once), this split needs {needed}"
        )
    base = _recover(distinct[:needed])
    for extra in distinct[needed:]:
        if not _fits(extra, distinct[: needed - 1], base):
            raise ShareError(f"{extra.where} does not fit the other shares: it is wrong")
    return decode_secret(base.decrypt(_passphrase_bytes(passphrase)))


class RecoveryShares:
    """A custody factor: M shares (and their passphrase) that yield the recovery identity."""

    def __init__(self, shares: Sequence[RecoveryShare], passphrase: str = "") -> None:
        self._shares = tuple(shares)
        self._passphrase = passphrase

    def identity(self) -> RecoveryIdentity:
        """The recovery identity; raises :class:`ShareError` (see :func:`combine_shares`)."""
        return combine_shares(self._shares, passphrase=self._passphrase)

    def __repr__(self) -> str:
        return f"RecoveryShares({len(self._shares)} shares)"


def _distinct(shares: Sequence[RecoveryShare]) -> list[RecoveryShare]:
    by_number: dict[int, RecoveryShare] = {}
    for given in shares:
        seen = by_number.setdefault(given.number, given)
        if seen.share != given.share:
            raise ShareError(
                f"{seen.where} and {given.where} are the same share number but differ:"
                " one of them is wrong"
            )
    return list(by_number.values())


def _same_split(shares: Sequence[RecoveryShare]) -> None:
    first = shares[0]
    common = first.share.common_parameters()
    for other in shares[1:]:
        if other.share.common_parameters() != common or other.threshold != first.threshold:
            raise ShareError(
                f"{first.where} and {other.where} come from different splits"
                " (their first words differ)"
            )


def _fits(extra: RecoveryShare, others: Sequence[RecoveryShare], base: object) -> bool:
    try:
        return bool(_recover([*others, extra]) == base)
    except ShareError:
        return False


def _recover(shares: Sequence[RecoveryShare]) -> EncryptedMasterSecret:
    try:
        return recover_ems(decode_mnemonics(s.share.mnemonic() for s in shares))
    except MnemonicError:
        raise ShareError(
            "the shares do not fit together: one of them is wrong or from another split"
        ) from None


def _passphrase_bytes(passphrase: str) -> bytes:
    if not all(32 <= ord(c) <= 126 for c in passphrase):
        raise ShareError("a shares passphrase must be printable ASCII (no accents, no tabs)")
    return passphrase.encode("ascii")

