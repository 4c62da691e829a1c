"""Encoding: the 150x150 thumbnail made at Ingest and the responsive variants.

Outputs carry no metadata at all: no EXIF (so no GPS, no camera serial numbers), no XMP and no ICC
profile. The pixels are sRGB (load() converts them), and an untagged image is sRGB to every
browser; an embedded sRGB profile would add 0.6-3 KB to a ~5 KB thumbnail and change nothing.
AVIF outputs still say so in their `colr` box (nclx: BT.709 primaries, sRGB transfer), which
Pillow's AVIF encoder writes whenever no ICC profile is given."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from PIL import Image, ImageOps

from imagepipe.domain.errors import ErrorCode
from imagepipe.domain.model import Rendered
from imagepipe.imaging import _pillow
from imagepipe.imaging.errors import ImagingError


@dataclass(frozen=True)
class VariantSpec:
    """One responsive size: its name, its maximum width, and each format's quality.

    WebP keeps the qualities it always had (80/85/90). Pillow's AVIF quality scale is not
    WebP's: at the same numbers AVIF came out 1.4-1.9x the WebP's bytes for a much higher
    SSIMULACRA2. Each AVIF quality here is the highest, over the benchmark photos, of the
    quality at which the AVIF's SSIMULACRA2 (against a full-decode LANCZOS reference) equals
    its WebP sibling's, at speed 9 (README "Quality per byte")."""

    name: str
    width: int
    webp_quality: int
    avif_quality: int

    def quality(self, fmt: str) -> int:
        return self.avif_quality if fmt == "avif" else self.webp_quality


VARIANT_SPECS: tuple[VariantSpec, ...] = (
    VariantSpec("small", 640, webp_quality=80, avif_quality=66),
    VariantSpec("medium", 1024, webp_quality=85, avif_quality=69),
    VariantSpec("large", 1920, webp_quality=90, avif_quality=78),
)
OUTPUT_FORMATS = ("webp", "avif")
THUMBNAIL_SIZE = 150
THUMBNAIL_QUALITY = 70
PREVIEW_QUALITY = 85
DEFAULT_AVIF_SPEED = 9  # measured: tests/bench/RESULTS.md, README "Benchmark"
# libwebp's default effort. Measured on the 12 MP test photos at 1920 px: method 5 takes 10 %
# longer for 1-3 % fewer bytes, method 6 twice as long for 4-7 % fewer.
# With alpha too: libwebp compresses the alpha plane losslessly with the same effort, and
# method 4 takes 1.5x the time of the same pixels without alpha. Method 2 was 1.7x faster on
# the bench's RGBA photo but 1.3 SSIMULACRA2 points worse at 1920 px and 1.5-3 % bigger;
# method 3 no faster than 4; alpha_quality < 100 loses quality and no time (README
# "Quality per byte"). The same quality comes first: method 4 whatever the alpha.
WEBP_METHOD = 4
# When shrinking by 2x this or more, Pillow first reduces by a whole factor (a box filter), then
# resamples: its docs call 3.0 indistinguishable from a plain LANCZOS, at a fraction of the cost
# for very large sources.
REDUCING_GAP = 3.0

# Every output fits every format: WebP stores at most 16383 px per side (libwebp refuses more),
# and that bound is applied to AVIF too. A variant is also at most MAX_ASPECT times as tall as
# its width budget, so that the "small" of a 600x20000 scroll stays small (and encodable); the
# usual portraits (3:4, 9:16, 1:2) are never affected.
MAX_SIDE = 16383
MAX_ASPECT = 4

_Job = tuple[str, str, Image.Image, int]  # name, format, image, quality
_CONTENT_TYPES = {"webp": "image/webp", "avif": "image/avif"}


def thumbnail(img: Image.Image) -> Rendered:
    """150x150, cropped to cover from the centre, WebP quality 70. Small sources are enlarged:
    the listing shows every thumbnail at the same size."""
    source = _encodable(img)
    thumb = ImageOps.fit(
        source,
        (THUMBNAIL_SIZE, THUMBNAIL_SIZE),
        method=Image.Resampling.LANCZOS,
        centering=(0.5, 0.5),
    )
    return encode_output("thumbnail", "webp", thumb, THUMBNAIL_QUALITY, DEFAULT_AVIF_SPEED)


def variants(
    img: Image.Image,
    *,
    avif_speed: int = DEFAULT_AVIF_SPEED,
    workers: int = 1,
    cpus: int | None = None,
) -> list[Rendered]:
    """small/medium/large, each as WebP and AVIF, in that order (6 items).

    Never enlarged: a variant is at most as wide as the image. Resized as a cascade, large from
    the image, medium from large, small from medium, so every resize starts from the nearest
    larger result. With workers > 1 the encodes run in a thread pool (both encoders release the
    GIL) while the next, smaller size is being resized. cpus: what the encoders may use in all
    (default: the CPUs this process may run on)."""
    source = _encodable(img)
    # AVIF's encoder threads share the CPUs with the pool's other encodes.
    avif_threads = max(1, (cpus or _cpu_count()) // max(1, workers))

    def encode(job: _Job) -> Rendered:
        name, fmt, image, quality = job
        return encode_output(name, fmt, image, quality, avif_speed, avif_threads=avif_threads)

    jobs = _cascade(source)  # lazy: each resize happens when its jobs are taken
    if workers <= 1:
        rendered = [encode(job) for job in jobs]
    else:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="encode") as pool:
            futures = [pool.submit(encode, job) for job in jobs]
        rendered = [future.result() for future in futures]
    by_key = {(r.name, r.format): r for r in rendered}
    return [by_key[(spec.name, fmt)] for spec in VARIANT_SPECS for fmt in OUTPUT_FORMATS]


def _cascade(source: Image.Image) -> Iterator[_Job]:
    # With alpha the cascade runs on premultiplied pixels (RGBa), converted back once per
    # size for the encoders. Pillow resizes RGBA by premultiplying, resizing and dividing
    # again, in 8 bits: three times in a row that loses the colour of the faint pixels (the
    # 640 px variant of the bench's RGBA photo was 52.3 dB from a direct LANCZOS, premultiplied;
    # 55.3 this way, and its resizes take 0.36 CPU-s instead of 0.49).
    premultiplied = source.mode == "RGBA"
    current = source.convert("RGBa") if premultiplied else source
    # Largest first, and AVIF (the slow one) before WebP, so the longest encode starts first.
    for spec in reversed(VARIANT_SPECS):
        current = fit_variant(current, spec.width)
        # Each encode gets its own Image object: Image.save() keeps its options on the
        # instance (encoderinfo), which two threads saving one image would overwrite.
        for fmt in reversed(OUTPUT_FORMATS):
            image = current.convert("RGBA") if premultiplied else current.copy()
            yield spec.name, fmt, image, spec.quality(fmt)


def _encodable(img: Image.Image) -> Image.Image:
    """RGB or RGBA; an alpha channel that is opaque everywhere (exports and screenshots often
    carry one) is dropped: it would cost both encoders time and bytes for nothing."""
    source = _pillow.rgb_or_rgba(img)
    if source.mode == "RGBA" and source.getchannel("A").getextrema() == (255, 255):
        return source.convert("RGB")
    return source


def preview_jpeg(img: Image.Image, width: int, *, quality: int = PREVIEW_QUALITY) -> bytes:
    """A JPEG at most `width` wide and tall (never enlarged) for services that want JPEG or PNG
    bytes, such as a labelling API: transparency flattened onto white, no metadata."""
    resized = _pillow.on_white(fit_box(_pillow.rgb_or_rgba(img), width, width))
    buffer = io.BytesIO()
    resized.convert("RGB").save(buffer, "JPEG", quality=quality, exif=b"", icc_profile=None)
    return buffer.getvalue()


def fit_variant(img: Image.Image, width: int) -> Image.Image:
    """img scaled down to a variant's `width`, or less if it is very tall: see MAX_ASPECT."""
    return fit_box(img, width, min(MAX_SIDE, width * MAX_ASPECT))


def fit_box(img: Image.Image, width: int, height: int) -> Image.Image:
    """img scaled down, keeping its aspect ratio, to fit in width x height; img itself if it
    already fits (never enlarged). Neither side drops below 1 px."""
    scale = min(width / img.width, height / img.height)
    if scale >= 1:
        return img
    size = (max(1, round(img.width * scale)), max(1, round(img.height * scale)))
    return img.resize(size, Image.Resampling.LANCZOS, reducing_gap=REDUCING_GAP)


def encode_output(
    name: str,
    fmt: str,
    img: Image.Image,
    quality: int,
    avif_speed: int,
    *,
    avif_threads: int | None = None,
) -> Rendered:
    """One output with this module's encoder settings. Raises ImagingError (encode_failed)."""
    # Only what is passed here reaches the encoder: no EXIF, XMP or ICC from anywhere.
    img.info = {}
    buffer = io.BytesIO()
    try:
        _save(buffer, fmt, img, quality, avif_speed, avif_threads)
    except (OSError, ValueError) as error:
        # Not an infrastructure fault: retrying the same pixels fails the same way. The sizes
        # above keep valid images inside every encoder's limits; this is the last net.
        raise ImagingError(
            ErrorCode.ENCODE_FAILED, f"cannot encode the {name} {fmt.upper()}: {error}"
        ) from error
    return Rendered(
        name=name,
        format=fmt,
        width=img.width,
        height=img.height,
        data=buffer.getvalue(),
        content_type=_CONTENT_TYPES[fmt],
    )


def _save(
    buffer: io.BytesIO,
    fmt: str,
    img: Image.Image,
    quality: int,
    avif_speed: int,
    avif_threads: int | None,
) -> None:
    if fmt == "webp":
        img.save(
            buffer,
            "WEBP",
            quality=quality,
            method=WEBP_METHOD,
            exif=b"",
            xmp=b"",
            icc_profile=b"",
        )
    else:
        img.save(
            buffer,
            "AVIF",
            quality=quality,
            speed=avif_speed,
            max_threads=avif_threads or _cpu_count(),
            exif=b"",
            xmp=b"",
            icc_profile=b"",
        )


def _cpu_count() -> int:
    # What the function may use (Lambda: 1 vCPU per 1769 MB), not what the host has.
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
