"""Pillow, set up once for untrusted input. Every module of the package imports this first."""

from __future__ import annotations

import pillow_heif
from PIL import Image, ImageFile

# HEIC through libheif. It applies the container's rotation and mirroring itself (and resets the
# EXIF orientation to 1 to match); embedded thumbnails, depth maps and auxiliary images are never
# wanted here, and skipping them saves parsing untrusted boxes.
_heif_options = {"thumbnails": False, "depth_images": False}
if hasattr(pillow_heif.options, "AUX_IMAGES"):  # pillow-heif 0.18 warns: unknown option
    _heif_options["aux_images"] = False
pillow_heif.register_heif_opener(**_heif_options)


def strict() -> None:
    """A truncated upload must fail as corrupt_image, never come out half grey. The switch is a
    process-wide global that any other library could flip, so it is set again before decoding."""
    ImageFile.LOAD_TRUNCATED_IMAGES = False


strict()


# Modes that carry an alpha channel; a palette or colour-keyed image may also have a tRNS key.
ALPHA_MODES = frozenset({"RGBA", "LA", "PA", "RGBa", "La"})


def has_alpha(img: Image.Image) -> bool:
    return img.mode in ALPHA_MODES or "transparency" in img.info


def rgb_or_rgba(img: Image.Image) -> Image.Image:
    """The image as RGB, or RGBA when it has any alpha: the two modes every encoder here takes."""
    if img.mode in ("RGB", "RGBA"):
        return img
    return img.convert("RGBA" if has_alpha(img) else "RGB")


def on_white(img: Image.Image) -> Image.Image:
    """Transparency flattened onto white (what a viewer without alpha shows); opaque images as
    they are."""
    if not has_alpha(img):
        return img
    rgba = img.convert("RGBA")
    white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(white, rgba)
