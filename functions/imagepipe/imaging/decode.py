"""Probing (header only) and decoding untrusted image bytes.

Order of business for every upload: sniff the magic bytes against the allowlist, open the header
with the one Pillow plugin for that format, check the pixel and frame limits, and only then
decode. Decoding yields the first frame (the primary image for HEIC), turned upright by its EXIF
orientation, converted to sRGB from its embedded ICC profile and normalised to 8-bit RGB or RGBA.
"""

from __future__ import annotations

import io
import math
import struct
import zlib
from dataclasses import dataclass

from PIL import ExifTags, Image, ImageCms, ImageFile

from imagepipe.imaging import _pillow
from imagepipe.imaging.errors import ImagingError
from imagepipe.imaging.formats import FORMATS, SNIFF_BYTES, sniff


@dataclass(frozen=True)
class Limits:
    max_pixels: int = 50_000_000
    max_frames: int = 200


@dataclass(frozen=True)
class Probe:
    """What the header says. width and height are as a viewer shows the image, i.e. after its
    EXIF orientation; mode is Pillow's mode of the stored pixels (e.g. P, CMYK, I;16)."""

    format: str
    ext: str
    content_type: str
    width: int
    height: int
    frames: int
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

_ALPHA_MODES = frozenset({"RGBA", "LA", "PA", "RGBa", "La"})
_SIXTEEN_BIT_GREY = frozenset({"I;16", "I;16L", "I;16B", "I;16N", "I"})
_ORIENTATIONS = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_PROFILE_SPACES = {"RGB": "RGB ", "L": "GRAY", "CMYK": "CMYK"}
# sRGB's colorants (D50-adapted XYZ) as every sRGB profile in the wild states them, give or take
# the rounding of its s15Fixed16 numbers.
_SRGB_COLORANTS = ((0.4361, 0.2225, 0.0139), (0.3851, 0.7169, 0.0971), (0.1431, 0.0606, 0.7141))
_SRGB = ImageCms.createProfile("sRGB")


def probe(data: bytes, limits: Limits) -> Probe:
    """Format, size, frames and mode from the header, with the limits enforced; no pixel is
    decoded. Raises ImagingError."""
    img, info, _ = _open(data, limits)
    img.close()
    return info


def load(
    data: bytes,
    limits: Limits,
    *,
    target_width: int | None = None,
    target_height: int | None = None,
) -> Image.Image:
    """Decode the first frame, upright, in sRGB, as RGB or RGBA (when the image has any alpha),
    with no metadata left in `.info`. Raises ImagingError.

    target_width/target_height: the smallest size (as shown) the caller will resize to. A JPEG at
    least twice that big is decoded at a reduced scale (libjpeg's DCT scaling, 1/2 to 1/8) that
    never goes below the target; below twice the target the quality loss is not worth it."""
    img, info, orientation = _open(data, limits)
    try:
        if info.format == "jpeg":
            _draft(img, info, target_width, target_height)
        _pillow.strict()
        img.load()
        converted = _to_srgb(img, info.has_alpha)
        upright = _ORIENTATIONS.get(orientation)
        out = converted.transpose(upright) if upright is not None else converted
        if out is img:
            out = img.copy()  # closing the file below would destroy its pixels
    except Image.DecompressionBombError as error:
        raise ImagingError("too_many_pixels", str(error)) from error
    except DECODE_ERRORS as error:
        raise ImagingError("corrupt_image", f"cannot decode the {info.format} image") from error
    finally:
        img.close()
    # Nothing of the source's metadata may reach an output, whatever an encoder copies.
    out.info = {}
    return out


def open_header(data: bytes, format_name: str) -> ImageFile.ImageFile:
    """The file opened (not decoded) with the allowlisted plugin of an already probed format."""
    return Image.open(io.BytesIO(data), formats=[FORMATS[format_name].pillow])


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


def _open(data: bytes, limits: Limits) -> tuple[ImageFile.ImageFile, Probe, int]:
    name = sniff(data[:SNIFF_BYTES])
    if name is None:
        raise ImagingError("unsupported_format", "not a JPEG, PNG, WebP, GIF, AVIF or HEIC image")
    fmt = FORMATS[name]
    try:
        img = open_header(data, name)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        # Pillow's own guard: an error from ~179 MP, far above any sensible limit, and a
        # warning from ~89 MP, raised only where warnings are turned into errors.
        raise ImagingError("too_many_pixels", str(error)) from error
    except DECODE_ERRORS as error:
        raise ImagingError("corrupt_image", f"cannot read the {name} header") from error
    try:
        orientation = orientation_of(img)
        width, height = img.size
        if orientation >= 5:
            width, height = height, width
        if width < 1 or height < 1:
            raise ImagingError("corrupt_image", f"the {name} header says {width}x{height}")
        if width * height > limits.max_pixels:
            raise ImagingError(
                "too_many_pixels",
                f"{width}x{height} is {width * height} pixels, more than {limits.max_pixels}",
            )
        # A JPEG's extra MPF images (depth maps, HDR gain maps, stereo pairs) are no animation.
        frames = 1 if name == "jpeg" else int(getattr(img, "n_frames", 1))
        if frames > limits.max_frames:
            raise ImagingError("too_many_frames", f"{frames} frames, more than {limits.max_frames}")
        has_alpha = img.mode in _ALPHA_MODES or "transparency" in img.info
        info = Probe(
            format=name,
            ext=fmt.ext,
            content_type=fmt.content_type,
            width=width,
            height=height,
            frames=frames,
            mode=img.mode,
            has_alpha=has_alpha,
        )
    except ImagingError:
        img.close()
        raise
    except DECODE_ERRORS as error:
        img.close()
        raise ImagingError("corrupt_image", f"cannot read the {name} header") from error
    return img, info, orientation


def _draft(
    img: ImageFile.ImageFile, info: Probe, target_width: int | None, target_height: int | None
) -> None:
    scale = max(
        target_width / info.width if target_width else 0.0,
        target_height / info.height if target_height else 0.0,
    )
    if scale <= 0 or scale > 0.5:
        return
    # A uniform scale, so the stored (not yet rotated) size can be asked for directly; Pillow
    # picks the largest 1/2^n reduction that stays at or above it in both directions.
    img.draft(None, (math.ceil(img.width * scale), math.ceil(img.height * scale)))


def _to_srgb(img: Image.Image, has_alpha: bool) -> Image.Image:
    icc = img.info.get("icc_profile")
    profile = _profile(icc if isinstance(icc, bytes) else None)
    if img.mode not in _SIXTEEN_BIT_GREY and (profile is None or _is_srgb(profile)):
        # Nothing to colour-manage (the usual case): one conversion at most, and no splitting
        # off of the alpha channel, which for 12 MP RGBA would cost ~100 ms and ~50 MB.
        target = "RGBA" if has_alpha else "RGB"
        return img if img.mode == target else img.convert(target)
    base, alpha = _split_alpha(img, has_alpha)
    rgb = _colour_manage(base, profile)
    if alpha is None:
        return rgb
    if rgb is img:
        rgb = rgb.copy()
    rgb.putalpha(alpha)
    return rgb


def _split_alpha(img: Image.Image, has_alpha: bool) -> tuple[Image.Image, Image.Image | None]:
    """The colour channels in a mode LittleCMS understands (L, RGB or CMYK, usually) and the
    alpha channel, if any."""
    if img.mode in _SIXTEEN_BIT_GREY:
        grey = _sixteen_to_eight(img)
        key = img.info.get("transparency") if has_alpha else None
        if isinstance(key, int):
            # The colour key is matched at 8 bits: 16-bit grey with tRNS is rare enough that
            # the 1/257 chance of a neighbouring value also turning transparent is accepted.
            key8 = round(key / 257)
            return grey, grey.point(lambda v: 0 if v == key8 else 255)
        return grey, None
    if img.mode == "1":
        img = img.convert("L")
    elif img.mode in ("P", "PA"):
        img = img.convert("RGBA" if has_alpha else "RGB")
    elif img.mode in ("L", "RGB") and has_alpha:
        # A tRNS colour key becomes a real alpha channel.
        img = img.convert("LA" if img.mode == "L" else "RGBA")
    elif img.mode in ("La", "RGBa"):
        img = img.convert("LA" if img.mode == "La" else "RGBA")
    if img.mode in ("LA", "RGBA"):
        return img.convert(img.mode[:-1]), img.getchannel("A")
    return img, None


def _scale16(value: Image.ImagePointTransform) -> Image.ImagePointTransform:
    return value * (1 / 257) + 0.5


def _sixteen_to_eight(img: Image.Image) -> Image.Image:
    # Pillow's own conversion to L clips at 255, which would turn a 16-bit image almost white.
    return img.convert("I").point(_scale16).convert("L")


def _colour_manage(base: Image.Image, profile: ImageCms.ImageCmsProfile | None) -> Image.Image:
    """base as RGB in sRGB. Pixels without a profile, or with a profile that does not fit their
    mode or that LittleCMS rejects, are taken as sRGB already (what browsers do)."""
    if profile is not None and not _is_srgb(profile):
        space = profile.profile.xcolor_space
        if _PROFILE_SPACES.get(base.mode) == space:
            try:
                transform = ImageCms.buildTransform(
                    profile, _SRGB, base.mode, "RGB", ImageCms.Intent.PERCEPTUAL
                )
                converted = ImageCms.applyTransform(base, transform)
            except ImageCms.PyCMSError:
                converted = None
            if converted is not None:
                return converted
    return base if base.mode == "RGB" else base.convert("RGB")


def _profile(icc: bytes | None) -> ImageCms.ImageCmsProfile | None:
    if not icc:
        return None
    try:
        return ImageCms.ImageCmsProfile(io.BytesIO(icc))
    except (OSError, ValueError, TypeError, ImageCms.PyCMSError):
        return None


def _is_srgb(profile: ImageCms.ImageCmsProfile) -> bool:
    """True for the many sRGB profiles cameras and editors embed: converting from them is a
    no-op that would cost as much as decoding a large JPEG."""
    core = profile.profile
    if core.xcolor_space != "RGB ":
        return False
    description = (core.profile_description or "").lower()
    # Linear-light "sRGB" profiles share the primaries but not the tone curve.
    if "srgb" not in description or "linear" in description or "g10" in description:
        return False
    colorants = (core.red_colorant, core.green_colorant, core.blue_colorant)
    for colorant, expected in zip(colorants, _SRGB_COLORANTS, strict=True):
        if colorant is None:
            return False
        xyz = colorant[0]
        if any(abs(a - b) > 0.002 for a, b in zip(xyz, expected, strict=True)):
            return False
    return True


def profile_name(icc: bytes | None) -> str | None:
    """The embedded ICC profile's description, e.g. "Display P3"."""
    profile = _profile(icc)
    if profile is None:
        return None
    try:
        name = ImageCms.getProfileDescription(profile).strip()
    except ImageCms.PyCMSError:
        return None
    return name[:100] or None
