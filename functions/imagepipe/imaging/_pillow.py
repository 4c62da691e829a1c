"""Pillow, set up once for untrusted input. Every module of the package imports this first."""

from __future__ import annotations

import pillow_heif
from PIL import ImageFile

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
