"""Near-duplicates by perceptual hash: a 64-bit hash split into 7 bands so that any two hashes
within Hamming distance 6 agree exactly on at least one band (pigeonhole: 6 differing bits
touch at most 6 of the 7 bands). Looking up the 7 band keys finds every candidate without a
scan; the exact distance then filters them."""

from __future__ import annotations

MAX_DISTANCE = 6
PHASH_BITS = 64
BAND_WIDTHS = (9, 9, 9, 9, 9, 9, 10)  # 64 bits, MAX_DISTANCE + 1 bands


def bands(phash: str) -> list[tuple[int, int]]:
    """(band index, band value) of a 16-hex-digit hash."""
    value = int(phash, 16)
    result = []
    shift = 64
    for index, width in enumerate(BAND_WIDTHS):
        shift -= width
        result.append((index, (value >> shift) & ((1 << width) - 1)))
    return result


def hamming(a: str, b: str) -> int:
    """How many of the 64 bits differ between two perceptual hashes."""
    if not (is_phash(a) and is_phash(b)):
        raise ValueError(f"perceptual hashes are 16 hex digits: {a!r}, {b!r}")
    return (int(a, 16) ^ int(b, 16)).bit_count()


def is_phash(value: object) -> bool:
    if not isinstance(value, str) or len(value) != 16:
        return False
    try:
        int(value, 16)
    except ValueError:
        return False
    return True
