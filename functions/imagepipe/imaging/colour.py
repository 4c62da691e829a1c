"""Colour management of decoded pixels: whatever the source's mode and embedded ICC profile,
8-bit sRGB (RGB, or RGBA when there is alpha) comes out. LittleCMS does the conversions; the many
sRGB profiles that cameras embed are recognised and skipped, since converting from them is a
no-op that would cost as much as decoding a large JPEG."""

from __future__ import annotations

import io

from PIL import Image, ImageCms

from imagepipe.imaging import _pillow  # noqa: F401  (Pillow's set-up comes first)

_SIXTEEN_BIT_GREY = frozenset({"I;16", "I;16L", "I;16B", "I;16N", "I"})
_PROFILE_SPACES = {"RGB": "RGB ", "L": "GRAY", "CMYK": "CMYK"}
# sRGB's colorants (D50-adapted XYZ) as every sRGB profile in the wild states them, give or take
# the rounding of its s15Fixed16 numbers.
_SRGB_COLORANTS = ((0.4361, 0.2225, 0.0139), (0.3851, 0.7169, 0.0971), (0.1431, 0.0606, 0.7141))
_SRGB = ImageCms.createProfile("sRGB")


def to_srgb(img: Image.Image, has_alpha: bool) -> Image.Image:
    """The decoded image as 8-bit sRGB: RGB, or RGBA when `has_alpha` (alpha kept as it is)."""
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
