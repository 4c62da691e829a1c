"""Probing (header only) and decoding untrusted image bytes.

Order of business for every upload: sniff the magic bytes against the allowlist, open the header
with the one Pillow plugin for that format, check the pixel and frame limits, and only then
decode. Decoding yields the first frame (the primary image for HEIC), turned upright by its EXIF
orientation, converted to sRGB from its embedded ICC profile (colour.py) and normalised to 8-bit
RGB or RGBA.

The file comes as bytes or as a seekable binary file (read from its start whatever its
position: each open rewinds it). Pillow reads a file lazily, the header first and the pixels on
load(), so a file on disk is never read into memory as a whole by the formats whose decoders
stream (JPEG, PNG, GIF).
"""

from __future__ import annotations

import io
import math
import struct
import zlib
from dataclasses import dataclass
from typing import IO, cast

from PIL import ExifTags, Image, ImageFile

from imagepipe.domain.errors import ErrorCode
from imagepipe.domain.model import Inspection
from imagepipe.imaging import _pillow
from imagepipe.imaging.colour import to_srgb
from imagepipe.imaging.errors import ImagingError
from imagepipe.imaging.formats import FORMATS, SNIFF_BYTES, sniff
from imagepipe.imaging.memory import MIB, decode_bytes, png_rows_bytes

# A JPEG draft keeps at least this many times the target size. libjpeg's scaled IDCT is soft:
# decoded at 1/2 and resized to 1920 px, a 12 MP photo's large variant lost 4 dB PSNR and
# 0.015 SSIM once encoded; with the last step a LANCZOS reduction of 2x or more, the loss is
# below what the encoders leave (tests/bench/RESULTS.md, "Detail").
DRAFT_MARGIN = 2

# What every function of this module that reads a file takes.
Source = bytes | IO[bytes]


@dataclass(frozen=True)
class Limits:
    max_pixels: int = 50_000_000
    max_frames: int = 200
    # All frames together: 200 frames of a 1080p animation (415 MP) pass, 200 frames of a
    # 12 MP "animation" (2.4 GP of pixels behind a small file) do not. Only the first frame
    # is ever decoded, but nothing should accept what it could never afford to read.
    max_animation_pixels: int = 500_000_000
    # What decoding may take in memory (memory.py): a function's memory less a reserve, set by
    # the codec from the function's MemorySize. None: no budget (tools and tests).
    max_decode_bytes: int | None = None


@dataclass(frozen=True)
class Probe(Inspection):
    """What the header says: the domain's Inspection (width and height as a viewer shows the
    image, i.e. after its EXIF orientation) plus Pillow's mode of the stored pixels (e.g. P,
    CMYK, I;16) and whether it has any alpha."""

    mode: str
    has_alpha: bool


# What Pillow and its plugins raise on bytes they cannot parse: each plugin has its own habits.
DECODE_ERRORS: tuple[type[Exception], ...] = (
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
    IndexError,
    KeyError,
    RuntimeError,
    struct.error,
    zlib.error,
)

_ORIENTATIONS = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def probe(data: Source, limits: Limits) -> Probe:
    """Format, size, frames and mode from the header, with the limits enforced; no pixel is
    decoded. Raises ImagingError."""
    img, info, _ = _open(data, limits)
    img.close()
    return info


def load(
    data: Source,
    limits: Limits,
    *,
    target_width: int | None = None,
    target_height: int | None = None,
) -> Image.Image:
    """Decode the first frame, upright, in sRGB, as RGB or RGBA (when the image has any alpha),
    with no metadata left in `.info`. Raises ImagingError.

    target_width/target_height: the smallest size (as shown) the caller will resize to. A JPEG at
    least four times that big is decoded at a reduced scale (libjpeg's DCT scaling, 1/2 to 1/8)
    that keeps at least twice the target (DRAFT_MARGIN), so LANCZOS still does the last, larger
    step; a JPEG any smaller is decoded whole."""
    img, info, orientation = _open(data, limits)
    try:
        if info.format == "jpeg":
            _draft(img, info, target_width, target_height)
        _pillow.strict()
        img.load()
        converted = to_srgb(img, info.has_alpha)
        upright = _ORIENTATIONS.get(orientation)
        out = converted.transpose(upright) if upright is not None else converted
        if out is img:
            # The decoded pixels are the result (RGB with nothing to convert, the usual case):
            # a new Image on the same core, not a copy that would double the job's peak memory.
            # Closing the file below then only drops its own reference, and the decoder state
            # some plugins keep (WebP, AVIF) goes with it.
            out = img._new(img.im)
    except Image.DecompressionBombError as error:
        raise ImagingError(ErrorCode.TOO_MANY_PIXELS, str(error)) from error
    except DECODE_ERRORS as error:
        raise ImagingError(
            ErrorCode.CORRUPT_IMAGE, f"cannot decode the {info.format} image"
        ) from error
    finally:
        img.close()
    # Nothing of the source's metadata may reach an output, whatever an encoder copies.
    out.info = {}
    return out


def open_header(data: Source, format_name: str) -> ImageFile.ImageFile:
    """The file opened (not decoded) with the allowlisted plugin of an already probed format."""
    return Image.open(_rewound(data), formats=[FORMATS[format_name].pillow])


def head(data: Source, size: int) -> bytes:
    """The first `size` bytes of the file (fewer if it is shorter), leaving a file rewound."""
    if isinstance(data, bytes):
        return data[:size]
    data.seek(0)
    first = data.read(size)
    data.seek(0)
    return first


def _rewound(data: Source) -> IO[bytes]:
    if isinstance(data, bytes):
        return io.BytesIO(data)
    data.seek(0)
    # Pillow's close() closes the file it was given, and every open here is closed.
    return cast("IO[bytes]", _Borrowed(data))


class _Borrowed:
    """The caller's file as one open image sees it: read and seek go through, close does not
    (the file is the caller's, opened again by the next probe, load or analysis)."""

    def __init__(self, file: IO[bytes]) -> None:
        self._file = file

    def read(self, size: int = -1, /) -> bytes:
        return self._file.read(size)

    def seek(self, offset: int, whence: int = io.SEEK_SET, /) -> int:
        return self._file.seek(offset, whence)

    def tell(self) -> int:
        return self._file.tell()

    def close(self) -> None:
        pass


def header_exif(img: Image.Image) -> Image.Exif:
    """The EXIF found in the header of an opened (not decoded) file; empty if none or broken."""
    if img.format == "PNG" and "exif" not in img.info:
        # Pillow's PNG getexif() decodes the whole image to look for an eXIf chunk after the
        # pixels; viewers ignore such a late chunk anyway.
        return Image.Exif()
    try:
        return img.getexif()
    except DECODE_ERRORS:
        return Image.Exif()


def orientation_of(img: Image.Image) -> int:
    """The EXIF orientation (1-8) as known from the header."""
    value = header_exif(img).get(ExifTags.Base.Orientation, 1)
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _open(data: Source, limits: Limits) -> tuple[ImageFile.ImageFile, Probe, int]:
    first = head(data, SNIFF_BYTES)
    name = sniff(first)
    if name is None:
        raise ImagingError(
            ErrorCode.UNSUPPORTED_FORMAT, "not a JPEG, PNG, WebP, GIF, AVIF or HEIC image"
        )
    fmt = FORMATS[name]
    try:
        img = open_header(data, name)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        # Pillow's own guard: an error from ~179 MP, far above any sensible limit, and a
        # warning from ~89 MP, raised only where warnings are turned into errors.
        raise ImagingError(ErrorCode.TOO_MANY_PIXELS, str(error)) from error
    except DECODE_ERRORS as error:
        raise ImagingError(ErrorCode.CORRUPT_IMAGE, f"cannot read the {name} header") from error
    try:
        orientation = orientation_of(img)
        width, height = img.size
        if orientation >= 5:
            width, height = height, width
        if width < 1 or height < 1:
            raise ImagingError(ErrorCode.CORRUPT_IMAGE, f"the {name} header says {width}x{height}")
        if width * height > limits.max_pixels:
            raise ImagingError(
                ErrorCode.TOO_MANY_PIXELS,
                f"{width}x{height} is {width * height} pixels, more than {limits.max_pixels}",
            )
        # A JPEG's extra MPF images (depth maps, HDR gain maps, stereo pairs) are no animation.
        frames = 1 if name == "jpeg" else int(getattr(img, "n_frames", 1))
        if frames > limits.max_frames:
            raise ImagingError(
                ErrorCode.TOO_MANY_FRAMES, f"{frames} frames, more than {limits.max_frames}"
            )
        if frames * width * height > limits.max_animation_pixels:
            raise ImagingError(
                ErrorCode.TOO_MANY_PIXELS,
                f"{frames} frames of {width}x{height} are {frames * width * height} pixels in "
                f"all, more than {limits.max_animation_pixels}",
            )
        _check_memory(name, img, orientation, limits, first)
        info = Probe(
            format=name,
            ext=fmt.ext,
            content_type=fmt.content_type,
            width=width,
            height=height,
            frames=frames,
            mode=img.mode,
            has_alpha=_pillow.has_alpha(img),
        )
    except ImagingError:
        img.close()
        raise
    except DECODE_ERRORS as error:
        img.close()
        raise ImagingError(ErrorCode.CORRUPT_IMAGE, f"cannot read the {name} header") from error
    return img, info, orientation


def _check_memory(
    name: str, img: ImageFile.ImageFile, orientation: int, limits: Limits, first: bytes
) -> None:
    """first: the file's first bytes (PNG's IHDR chunk is within its first 26)."""
    if limits.max_decode_bytes is None:
        return
    rows = png_rows_bytes(first[:26], img.width) if name == "png" else 0
    need = decode_bytes(
        name,
        img.size,
        img.mode,
        has_alpha=_pillow.has_alpha(img),
        has_icc=bool(img.info.get("icc_profile")),
        orientation=orientation,
        decoder_bytes=rows,
    )
    if need > limits.max_decode_bytes:
        width, height = img.size
        raise ImagingError(
            ErrorCode.TOO_MUCH_MEMORY,
            f"decoding {width}x{height} {img.mode} takes about {need // MIB} MiB, more than "
            f"the {limits.max_decode_bytes // MIB} MiB this function can spare",
        )


def _draft(
    img: ImageFile.ImageFile, info: Probe, target_width: int | None, target_height: int | None
) -> None:
    scale = (
        max(
            target_width / info.width if target_width else 0.0,
            target_height / info.height if target_height else 0.0,
        )
        * DRAFT_MARGIN
    )
    if scale <= 0 or scale > 0.5:
        return
    # A uniform scale, so the stored (not yet rotated) size can be asked for directly; Pillow
    # picks the largest 1/2^n reduction that stays at or above it in both directions.
    img.draft(None, (math.ceil(img.width * scale), math.ceil(img.height * scale)))
