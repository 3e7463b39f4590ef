"""Bech32 (BIP 173) as age uses it: no length limit, checksum always verified.

age keys exceed BIP 173's 90-character limit (post-quantum recipients are
almost 2,000 characters), so the limit is not enforced. Mixed case is
rejected; the caller decides the expected case.
"""

from __future__ import annotations

from tipbox.crypto.errors import KeyFormatError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable

_CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"


def _reduce_xor(values: Iterable[int]) -> int:
    result = 0
    for value in values:
        result ^= value
    return result


_INDEX = {c: i for i, c in enumerate(_CHARSET)}
_GENERATOR = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
# The generator terms for each value of the checksum's top five bits, so
# that each character costs one lookup (post-quantum keys are ~2,000 long).
_TERMS = tuple(
    _reduce_xor(g for i, g in enumerate(_GENERATOR) if (top >> i) & 1) for top in range(32)
)


def _polymod(values: list[int]) -> int:
    check = 1
    terms = _TERMS
    for value in values:
        check = ((check & 0x1FFFFFF) << 5) ^ value ^ terms[check >> 25]
    return check


def _expand_hrp(hrp: str) -> list[int]:
    return [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]


def _convert_bits(data: bytes | list[int], from_bits: int, to_bits: int, pad: bool) -> list[int]:
    acc = bits = 0
    out: list[int] = []
    max_value = (1 << to_bits) - 1
    for value in data:
        acc = (acc << from_bits) | value
        bits += from_bits
        while bits >= to_bits:
            bits -= to_bits
            out.append((acc >> bits) & max_value)
    if pad and bits:
        out.append((acc << (to_bits - bits)) & max_value)
    elif not pad and (bits >= from_bits or (acc << (to_bits - bits)) & max_value):
        raise KeyFormatError("invalid bech32 padding")
    return out


def encode(hrp: str, data: bytes) -> str:
    """Encode ``data`` under the lower-case human-readable part ``hrp``."""
    values = _convert_bits(data, 8, 5, pad=True)
    checksum_input = _expand_hrp(hrp) + values + [0] * 6
    polymod = _polymod(checksum_input) ^ 1
    checksum = [(polymod >> 5 * (5 - i)) & 31 for i in range(6)]
    return hrp + "1" + "".join(_CHARSET[v] for v in values + checksum)


def decode(text: str) -> tuple[str, bytes]:
    """Return ``(hrp, data)`` of a Bech32 string; the hrp is lower case.

    Raises :class:`KeyFormatError` on mixed case, bad characters or a bad
    checksum.
    """
    if text.lower() != text and text.upper() != text:
        raise KeyFormatError("mixed case in bech32 string")
    text = text.lower()
    split = text.rfind("1")
    if split < 1 or len(text) - split < 7:
        raise KeyFormatError("malformed bech32 string")
    hrp, rest = text[:split], text[split + 1 :]
    if any(not 33 <= ord(c) <= 126 for c in hrp):
        raise KeyFormatError("invalid bech32 prefix")
    try:
        values = [_INDEX[c] for c in rest]
    except KeyError:
        raise KeyFormatError("invalid bech32 character") from None
    if _polymod(_expand_hrp(hrp) + values) != 1:
        raise KeyFormatError("invalid bech32 checksum")
    return hrp, bytes(_convert_bits(values[:-6], 5, 8, pad=False))
