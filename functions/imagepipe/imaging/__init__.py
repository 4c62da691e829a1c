"""imagepipe.imaging: the only module of the project that imports Pillow (and pillow_heif).

Handlers and the domain reach it through an adapter; the API functions never import it, so
their cold starts never pay for Pillow.

    data                     the file: bytes, or a seekable binary file read lazily
    probe(data, limits)      header only: format, size as shown, frames, mode; limits (pixels,
                             frames, the memory the decode would take) enforced
    load(data, limits)       the first frame, upright, sRGB, RGB or RGBA, no metadata
    thumbnail(img)           150x150 cover crop, WebP q70
    variants(img)            small/medium/large x WebP/AVIF, never enlarged, no metadata
    analyze(data, img, p)    EXIF, GPS, colours, perceptual hash, ThumbHash placeholder
    preview_jpeg(img, w)     a plain JPEG for services that take only JPEG/PNG (labels)

Every failure caused by the bytes is an ImagingError: the domain's InvalidImage, with a code of
the error catalogue (imagepipe.domain.errors). Outputs are the domain's Rendered."""

from __future__ import annotations

from imagepipe.imaging.analyze import analyze
from imagepipe.imaging.decode import Limits, Probe, Source, load, probe
from imagepipe.imaging.errors import ImagingError
from imagepipe.imaging.formats import sniff
from imagepipe.imaging.memory import decode_budget
from imagepipe.imaging.phash import phash
from imagepipe.imaging.render import (
    DEFAULT_AVIF_SPEED,
    VARIANT_SPECS,
    preview_jpeg,
    thumbnail,
    variants,
)

__all__ = [
    "DEFAULT_AVIF_SPEED",
    "VARIANT_SPECS",
    "ImagingError",
    "Limits",
    "Probe",
    "Source",
    "analyze",
    "decode_budget",
    "load",
    "phash",
    "preview_jpeg",
    "probe",
    "sniff",
    "thumbnail",
    "variants",
]
