"""Sniffing the format from the magic bytes, and refusing everything outside the allowlist."""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest
from PIL import Image

from imagepipe.imaging import ImagingError, Limits, load, probe, sniff
from tests.imaging.helpers import encode


def _ftyp(major: bytes, *compatible: bytes) -> bytes:
    body = b"ftyp" + major + b"\x00\x00\x00\x00" + b"".join(compatible)
    return (len(body) + 4).to_bytes(4, "big") + body + b"\x00" * 32


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", "jpeg"),
        (b"\xff\xd8\xff\xe1\x12\x34Exif\x00\x00", "jpeg"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "png"),
        (b"GIF89a\x01\x00\x01\x00", "gif"),
        (b"GIF87a\x01\x00\x01\x00", "gif"),
        (b"RIFF\x24\x00\x00\x00WEBPVP8 \x18\x00\x00\x00", "webp"),
        (b"RIFF\x24\x00\x00\x00WEBPVP8L\x18\x00\x00\x00", "webp"),
        (b"RIFF\x24\x00\x00\x00WEBPVP8X\x0a\x00\x00\x00", "webp"),
        (_ftyp(b"avif", b"mif1", b"miaf"), "avif"),
        (_ftyp(b"avis", b"msf1", b"avif"), "avif"),
        (_ftyp(b"mif1", b"mif1", b"avif", b"miaf"), "avif"),
        (_ftyp(b"heic", b"mif1", b"heic"), "heic"),
        (_ftyp(b"mif1", b"mif1", b"heic"), "heic"),
        (_ftyp(b"heix", b"mif1"), "heic"),
        (_ftyp(b"hevc", b"msf1"), "heic"),
        # Not allowlisted, even though some are images Pillow could open.
        (_ftyp(b"isom", b"iso2", b"mp41"), None),  # an MP4 video
        (_ftyp(b"mif1", b"mif1", b"miaf"), None),  # HEIF without a known codec brand
        (b"RIFF\x24\x00\x00\x00WAVEfmt ", None),
        (b"<svg xmlns='http://www.w3.org/2000/svg'/>", None),
        (b"<?xml version='1.0'?><svg/>", None),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3", None),
        (b"%!PS-Adobe-3.0 EPSF-3.0", None),
        (b"8BPS\x00\x01\x00\x00", None),  # PSD
        (b"SIMPLE  =                    T", None),  # FITS
        (b"BM\x36\x00\x0c\x00\x00\x00", None),  # BMP
        (b"II*\x00\x08\x00\x00\x00", None),  # TIFF
        (b"MM\x00*\x00\x00\x00\x08", None),  # TIFF
        (b"\x00\x00\x00\x0cjP  \r\n\x87\n", None),  # JPEG 2000
        (b"\x00\x00\x01\x00\x01\x00", None),  # ICO
        (b"hello, world\n", None),
        (b"", None),
        (b"\xff\xd8", None),  # too short to be a JPEG
    ],
)
def test_sniff_knows_only_the_allowlist(head: bytes, expected: str | None) -> None:
    # Given the first bytes of a file
    # When they are sniffed
    # Then only the allowlisted formats are recognised
    assert sniff(head) == expected


def test_sniff_reads_only_the_first_64_bytes() -> None:
    # Given an ftyp box whose only coding brand lies beyond byte 64
    head = _ftyp(b"mif1", *([b"miaf"] * 14), b"avif")
    # When it is sniffed
    # Then the late brand is not seen
    assert sniff(head) is None


def _svg() -> bytes:
    return (
        b'<svg xmlns="http://www.w3.org/2000/svg" width="100" height="100">'
        b'<circle cx="50" cy="50" r="40" fill="red"/></svg>'
    )


def _pdf() -> bytes:
    return b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF"


def _bitmap(fmt: str) -> bytes:
    return encode(Image.new("RGB", (8, 8), (200, 10, 10)), fmt)


@pytest.mark.parametrize(
    ("label", "make"),
    [
        ("svg", _svg),
        ("pdf", _pdf),
        ("text", lambda: b"just some text, not an image\n" * 10),
        ("random bytes", lambda: random.Random(7).randbytes(4096)),
        ("empty", lambda: b""),
        ("bmp", lambda: _bitmap("BMP")),
        ("tiff", lambda: _bitmap("TIFF")),
        ("ico", lambda: _bitmap("ICO")),
        ("jpeg2000", lambda: _bitmap("JPEG2000")),
        ("eps", lambda: b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 8 8\nshowpage\n"),
        ("psd", lambda: b"8BPS\x00\x01" + b"\x00" * 64),
        ("fits", lambda: b"SIMPLE  =                    T" + b" " * 2850),
    ],
)
def test_everything_else_is_an_unsupported_format(label: str, make: Callable[[], bytes]) -> None:
    # Given bytes of a format outside the allowlist
    data = make()
    # When they are probed or loaded
    # Then both refuse them as unsupported_format
    for step in (probe, load):
        with pytest.raises(ImagingError) as raised:
            step(data, Limits())
        assert raised.value.code == "unsupported_format", label


def test_a_magic_number_alone_is_a_corrupt_image() -> None:
    # Given allowlisted magic bytes followed by garbage
    for data in (
        b"\xff\xd8\xff\xe0" + b"\x00" * 40,
        b"\x89PNG\r\n\x1a\n" + b"\x00" * 40,
        b"GIF89a" + b"\xff" * 3,
        b"RIFF\x24\x00\x00\x00WEBPVP8 " + b"\x00" * 40,
        _ftyp(b"avif", b"mif1"),
        _ftyp(b"heic", b"mif1"),
    ):
        # When it is probed
        # Then it is recognised but unreadable: corrupt_image
        with pytest.raises(ImagingError) as raised:
            probe(data, Limits())
        assert raised.value.code == "corrupt_image", data[:16]
