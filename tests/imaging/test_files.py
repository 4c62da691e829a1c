"""The codec given a file instead of bytes: the same results, whatever the file's position, and
the file left open for the next call (the workers probe, load and analyse one spooled file)."""

from __future__ import annotations

import tempfile
from typing import IO

import pytest
from PIL import Image

from imagepipe.adapters.codec import PillowCodec
from imagepipe.domain.errors import ErrorCode, InvalidImage
from imagepipe.imaging import Limits, load, probe
from tests.imaging.helpers import camera_exif, encode, mad

FORMATS = ["JPEG", "PNG", "WEBP", "GIF", "AVIF", "HEIF"]


def on_disk(data: bytes) -> IO[bytes]:
    """The bytes in a file as the domain spools them, rolled over to disk, positioned at its end
    (where the spooling left it, before any rewind)."""
    file = tempfile.SpooledTemporaryFile(max_size=0, mode="w+b")  # noqa: SIM115 (closed by the test)
    file.write(data)
    return file


def photo_in(small_photo: Image.Image, fmt: str) -> bytes:
    # Orientation 6 and GPS: the header is read again after the first open.
    exif = camera_exif(lat=48.85, lon=2.35, orientation=6)
    img = small_photo.convert("P") if fmt == "GIF" else small_photo
    return encode(img, fmt, exif=exif.tobytes()) if fmt != "GIF" else encode(img, fmt)


@pytest.mark.parametrize("fmt", FORMATS)
def test_probe_and_load_of_a_file_equal_those_of_its_bytes(
    small_photo: Image.Image, fmt: str
) -> None:
    # Given a photo's bytes and the same bytes in a file on disk
    data = photo_in(small_photo, fmt)
    with on_disk(data) as file:
        # When both are probed and loaded
        from_bytes = (probe(data, Limits()), load(data, Limits(), target_width=320))
        from_file = (probe(file, Limits()), load(file, Limits(), target_width=320))

        # Then the header's facts are equal and the pixels identical
        assert from_file[0] == from_bytes[0]
        assert from_file[1].size == from_bytes[1].size
        assert mad(from_file[1], from_bytes[1]) == 0
        # And the file is still the caller's, open
        assert not file.closed


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_every_codec_call_on_one_file_equals_the_same_call_on_bytes(
    small_photo: Image.Image, fmt: str
) -> None:
    # Given a photo's bytes and the same bytes in a file on disk
    data = photo_in(small_photo, fmt)
    codec = PillowCodec(memory_mb=1024)
    with on_disk(data) as file:
        # When each codec call is made on the bytes and, one after the other, on the file
        inspection, thumb = codec.prepare(file)
        analysed = codec.analyze(file)
        preview = codec.preview(file)
        variants = codec.variants(file)

        # Then every result is the same as from the bytes
        assert (inspection, thumb) == codec.prepare(data)
        assert analysed == codec.analyze(data)
        assert preview == codec.preview(data)
        assert variants == codec.variants(data)


def test_a_file_that_is_no_image_is_refused_as_bytes_are() -> None:
    # Given a file of text
    with on_disk(b"<svg xmlns='http://www.w3.org/2000/svg'/>" * 100) as file:
        # When it is prepared / Then it is refused for its format
        with pytest.raises(InvalidImage) as refused:
            PillowCodec().prepare(file)
        assert refused.value.code is ErrorCode.UNSUPPORTED_FORMAT
