"""The fuzzer's starting points: small real photos in every allowed format, and handmade specials
(formats that must be refused, polyglots, bombs, impossible dimensions).

Seeds are kept small (a few KB to ~40 KB) so that thousands of mutations decode quickly and a
failing input can be kept as a regression case as it is. Every seed is made from the same photo
with fixed settings, so a (seed, index) pair names the same bytes on every run."""

from __future__ import annotations

import io
import struct
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pillow_heif  # noqa: F401  (registers the HEIF saver used below)
from PIL import Image, ImageOps

from imagepipe import imaging  # noqa: F401  (Pillow set up as the pipeline sets it up)
from tests.imaging.helpers import (
    camera_exif,
    display_p3_profile,
    png_header_only,
    png_zeros,
)
from tests.photos import photo

# The photo with its camera's EXIF; 2560x1920, shrunk to the seeds' sizes.
SOURCE_PHOTO = "wood-5mp.jpg"


@dataclass(frozen=True)
class Seed:
    name: str
    data: bytes


def seeds() -> list[Seed]:
    """The real-photo seeds, then the specials: every one is also a starting point for
    mutations."""
    return real_seeds() + specials()


def real_seeds() -> list[Seed]:
    with Image.open(photo(SOURCE_PHOTO)) as src:
        src.draft("RGB", (320, 240))
        base = ImageOps.fit(src.convert("RGB"), (192, 144), Image.Resampling.LANCZOS)
    alpha = base.convert("RGBA")
    alpha.putalpha(ImageOps.invert(Image.linear_gradient("L")).resize(base.size))
    small = base.resize((96, 72), Image.Resampling.LANCZOS)
    frames = [small.crop((i * 8, 0, i * 8 + 64, 48)) for i in range(4)]
    exif = camera_exif(orientation=6).tobytes()
    p3 = display_p3_profile()
    made: list[tuple[str, Callable[[], bytes]]] = [
        ("photo.jpg", lambda: _save(base, "JPEG", quality=85, exif=exif)),
        ("photo-progressive-p3.jpg", lambda: _save(base, "JPEG", progressive=True, icc_profile=p3)),
        ("photo-cmyk.jpg", lambda: _save(small.convert("CMYK"), "JPEG", quality=80)),
        ("photo.png", lambda: _save(small, "PNG")),
        ("photo-alpha-p3.png", lambda: _save(alpha.resize(small.size), "PNG", icc_profile=p3)),
        ("photo-palette.png", lambda: _save(small.quantize(64), "PNG", transparency=0)),
        ("photo-16bit.png", lambda: _save(small.convert("L").convert("I;16"), "PNG")),
        (
            "photo-animated.png",
            lambda: _save(frames[0], "PNG", save_all=True, append_images=frames[1:], duration=100),
        ),
        ("photo.webp", lambda: _save(base, "WEBP", quality=75, exif=exif)),
        (
            "photo-alpha-lossless.webp",
            lambda: _save(alpha.resize(small.size), "WEBP", lossless=True),
        ),
        (
            "photo-animated.webp",
            lambda: _save(frames[0], "WEBP", save_all=True, append_images=frames[1:], duration=100),
        ),
        (
            "photo-animated.gif",
            lambda: _save(
                frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0
            ),
        ),
        ("photo.avif", lambda: _save(base, "AVIF", quality=60, speed=10)),
        ("photo-alpha.avif", lambda: _save(alpha.resize(small.size), "AVIF", speed=10)),
        ("photo.heic", lambda: _save(small, "HEIF", quality=50)),
    ]
    return [Seed(name, make()) for name, make in made]


def specials() -> list[Seed]:
    """Inputs that must end in a clean refusal (or a clean result): each runs unmutated first."""
    jpeg = _save(Image.new("RGB", (64, 48), (200, 120, 40)), "JPEG")
    return [
        Seed("empty", b""),
        Seed(
            "svg.svg",
            b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
            b"<script>alert(1)</script></svg>",
        ),
        Seed("svg-billion-laughs.svg", _billion_laughs()),
        Seed("pdf.pdf", _pdf()),
        Seed("jpeg-zip-polyglot.jpg", jpeg + _zip()),
        Seed("gif-js-polyglot.gif", b"GIF89a/*\x00\x00\x00\x00*/=1;alert(1);//" + b"\x00" * 32),
        Seed(
            "png-html-polyglot.png",
            _save(Image.new("L", (8, 8)), "PNG") + b"<html><script>alert(1)</script></html>",
        ),
        Seed("png-bomb-49mp.png", png_zeros(7000, 7000, colour=0)),
        Seed("png-header-3600mp.png", png_header_only(60_000, 60_000)),
        # Under the 50 MP limit, and 1 GB to decode: 8 bytes of row pointer a row (memory.py).
        Seed("png-1x50m-grey.png", png_zeros(1, 50_000_000, colour=0)),
        Seed("png-1x50m-rgb.png", png_zeros(1, 50_000_000, colour=2)),
        Seed("png-50mx1-rgb.png", png_zeros(50_000_000, 1, colour=2)),
        Seed("gif-screen-65535.gif", _gif(65_535, 65_535, frames=1)),
        Seed("gif-250-frames.gif", _gif(8, 8, frames=250)),
        Seed("gif-199-frames-of-1600.gif", _gif(1600, 1600, frames=199)),
        Seed("jpeg-65500x65500.jpg", _jpeg_dimensions(jpeg, 65_500, 65_500)),
        Seed("webp-canvas-16383.webp", _webp_canvas(16_383, 16_383)),
        Seed("bmp.bmp", _save(Image.new("RGB", (4, 4)), "BMP")),
        Seed("tiff.tif", _save(Image.new("RGB", (4, 4)), "TIFF")),
        Seed("psd-magic.psd", b"8BPS\x00\x01" + b"\x00" * 64),
        Seed("ftyp-no-brand.heic", struct.pack(">I", 24) + b"ftypmif1\x00\x00\x00\x00mif1msf1"),
    ]


def _save(img: Image.Image, fmt: str, **params: Any) -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, fmt, **params)
    return buffer.getvalue()


def _gif(width: int, height: int, *, frames: int) -> bytes:
    """A GIF whose logical screen is width x height, with `frames` 1x1 frames in it."""
    out = b"GIF89a" + struct.pack("<HHBBB", width, height, 0x80, 0, 0) + b"\x00\x00\x00\xff\xff\xff"
    out += b"\x21\xff\x0bNETSCAPE2.0\x03\x01\x00\x00\x00"
    for _ in range(frames):
        out += b"\x21\xf9\x04\x00\x0a\x00\x00\x00"  # 100 ms
        out += b"\x2c" + struct.pack("<HHHHB", 0, 0, 1, 1, 0) + b"\x02\x02\x44\x01\x00"
    return out + b"\x3b"


def _jpeg_dimensions(jpeg: bytes, width: int, height: int) -> bytes:
    at = jpeg.index(b"\xff\xc0")
    return jpeg[: at + 5] + struct.pack(">HH", height, width) + jpeg[at + 9 :]


def _webp_canvas(width: int, height: int) -> bytes:
    vp8x = b"VP8X" + struct.pack("<I", 10) + b"\x00\x00\x00\x00"
    vp8x += (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    return b"RIFF" + struct.pack("<I", 4 + len(vp8x)) + b"WEBP" + vp8x


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("payload.html", "<script>alert(1)</script>")
    return buffer.getvalue()


def _pdf() -> bytes:
    return (
        b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
        b"2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
    )


def _billion_laughs() -> bytes:
    entities = '<!ENTITY a0 "lol">' + "".join(
        f'<!ENTITY a{i} "{f"&a{i - 1};" * 10}">' for i in range(1, 10)
    )
    return f'<?xml version="1.0"?><!DOCTYPE svg [{entities}]><svg>&a9;</svg>'.encode()
