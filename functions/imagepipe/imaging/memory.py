"""What decoding an image will cost in memory, known from its header, and the budget it must fit.

The pixel limit alone does not bound memory: Pillow keeps one 8-byte pointer per row beside the
rows themselves, so a PNG declaring 1x50,000,000 (under the 50 MP limit, ~100 KB of file)
takes 450 MB as one grey image and 1 GB once converted to RGB. The estimate counts the full-size
images held at once, in Pillow's own layout (height x (width x bytes per pixel + 8)), at the
worst of two moments:

- inside load(): the decoded image, the decoder's own buffers (WebP, AVIF and HEIC are decoded
  by their library, then copied into Pillow; PNG's unfiltering keeps two raw rows, 300 MB for
  a 50,000,000 x 1 RGB image), a converted copy when the mode or an ICC profile
  needs converting (two for 16-bit grey and for colour-managed alpha, which split and rejoin
  channels) and an upright copy when the EXIF orientation turns or mirrors it;
- the first resize of the result: Pillow premultiplies an image with alpha into a full copy
  before resampling it.

The budget is the function's memory less a reserve for the runtime, the libraries, the resized
outputs and the encoders' own buffers."""

from __future__ import annotations

MIB = 1 << 20
# The Python runtime with boto3, Powertools and Pillow, the resized variants and what the WebP
# and AVIF encoders allocate for them (make fuzz measures the whole with the function's memory
# as the cap).
RESERVE_BYTES = 256 * MIB
_ROW_POINTER = 8
# Pillow stores 1-bit, grey and palette images in a byte per pixel, 16-bit grey in two, and
# every other mode (RGB included) in four.
_ONE_BYTE = frozenset({"1", "L", "P"})
_SIXTEEN_BIT = frozenset({"I;16", "I;16L", "I;16B", "I;16N"})
_DIRECT = frozenset({"RGB", "RGBA"})
_OWN_BUFFER = frozenset({"webp", "avif", "heic"})


def image_bytes(width: int, height: int, mode: str) -> int:
    """The memory Pillow takes for one width x height image of `mode`."""
    pixel = 1 if mode in _ONE_BYTE else 2 if mode in _SIXTEEN_BIT else 4
    return height * (width * pixel + _ROW_POINTER)


def decode_bytes(
    format_name: str,
    stored: tuple[int, int],
    mode: str,
    *,
    has_alpha: bool,
    has_icc: bool,
    orientation: int,
    decoder_bytes: int = 0,
) -> int:
    """The most the decode and the first resize hold at once for an image stored as `stored`
    (width, height before its orientation) in `mode`; every copy after the decode is 8-bit
    RGB(A), four bytes a pixel. decoder_bytes: what the decoder itself holds meanwhile."""
    width, height = stored
    copy = image_bytes(width, height, "RGBA")
    inside_load = image_bytes(width, height, mode) + decoder_bytes
    if format_name in _OWN_BUFFER:
        inside_load += copy
    if mode in _SIXTEEN_BIT or (has_icc and has_alpha):
        inside_load += 2 * copy
    elif mode not in _DIRECT or has_icc:
        inside_load += copy
    if orientation >= 5:
        # Turned by 90 degrees: `width` rows, as many row pointers.
        inside_load += image_bytes(height, width, "RGBA")
    elif orientation >= 2:
        inside_load += copy
    upright = image_bytes(height, width, "RGBA") if orientation >= 5 else copy
    first_resize = 2 * upright if has_alpha else upright
    return max(inside_load, first_resize)


def png_rows_bytes(ihdr: bytes, width: int) -> int:
    """The two raw rows (the current and the previous one) PNG's decoder unfilters with, from the
    IHDR chunk's bit depth and colour type (bytes 24 and 25 of the file)."""
    if len(ihdr) < 26:
        return 0
    depth, colour = ihdr[24], ihdr[25]
    channels = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}.get(colour, 4)
    return 2 * (-(-width * channels * depth // 8) + 1)


def decode_budget(memory_mb: int) -> int:
    """The bytes a decode may take in a function given `memory_mb` (its MemorySize)."""
    return max(0, memory_mb * MIB - RESERVE_BYTES)
