"""A 64-bit perceptual hash (pHash's DCT hash) in pure Python, and the distance between two.

The image is reduced to 32x32 greyscale and transformed with a 2-D DCT-II. Of the lowest
frequencies, the 8x8 block of coefficients (1..8, 1..8) is kept, as in the reference pHash
library (ph_dct_imagehash): it leaves out the DC term, which only says how bright the image is,
and with it row and column 0. Each bit says whether a coefficient is above the median of the 64.
Resizing, recompression and small colour changes move only a few bits; different pictures differ
in about half of them.

imagehash computes the same in a few lines, but would bring numpy, scipy and PyWavelets into the
Lambda layer; here only 8 of the 32 frequencies per axis are computed, ~10k multiplications."""

from __future__ import annotations

import math
import statistics

from PIL import Image

from imagepipe.imaging import _pillow

_SIZE = 32
_FREQUENCIES = range(1, 9)
# _COS[u][x] = cos(pi * (2x + 1) * u / 64): the DCT-II basis, for the frequencies kept.
_COS = {
    u: [math.cos(math.pi * (2 * x + 1) * u / (2 * _SIZE)) for x in range(_SIZE)]
    for u in _FREQUENCIES
}
HASH_HEX_DIGITS = 16


def phash(img: Image.Image) -> str:
    """16 lowercase hex digits. Transparent areas count as white."""
    if img.mode not in ("L", "LA", "RGB", "RGBA"):
        img = img.convert("RGBA")  # palette images cannot be resampled, only picked from
    small = img.resize((_SIZE, _SIZE), Image.Resampling.LANCZOS, reducing_gap=3.0)
    grey = _pillow.on_white(small).convert("L")
    pixels = grey.tobytes()
    rows = [pixels[y * _SIZE : (y + 1) * _SIZE] for y in range(_SIZE)]
    # Separable 2-D DCT: first along each row (only the kept frequencies), then down the columns.
    row_dct = [
        [sum(p * c for p, c in zip(row, _COS[u], strict=True)) for u in _FREQUENCIES]
        for row in rows
    ]
    # Rounded so that float noise (a flat image's coefficients are all ~1e-13, not 0) cannot
    # decide a bit: a flat image hashes to all zeros on every platform.
    coefficients = [
        round(sum(row_dct[y][i] * _COS[v][y] for y in range(_SIZE)), 6)
        for v in _FREQUENCIES
        for i in range(len(_FREQUENCIES))
    ]
    median = statistics.median(coefficients)
    bits = 0
    for value in coefficients:
        bits = (bits << 1) | (value > median)
    return f"{bits:016x}"
