"""The memory budget of a decode: images whose decoding would not fit the function's memory are
refused from their header, and the estimate holds against what Pillow really takes."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from imagepipe.adapters.codec import PillowCodec
from imagepipe.imaging import ImagingError, Limits, decode_budget, probe
from imagepipe.imaging.memory import MIB
from tests.imaging.helpers import png_chunk, png_zeros, run_python


def _budget(memory_mb: int) -> Limits:
    return Limits(max_decode_bytes=decode_budget(memory_mb))


def test_a_thin_png_under_the_pixel_limit_is_refused_for_its_memory() -> None:
    # Given a real, complete PNG of 1x50,000,000 grey pixels: under the 50 MP limit, ~100 KB of
    # file, and 8 bytes of row pointer a row in Pillow (1 GB with the RGB working copy)
    data = png_zeros(1, 50_000_000, colour=0)
    assert len(data) < 128 * 1024
    # When Ingest's codec (1024 MB) prepares it
    with pytest.raises(ImagingError) as raised:
        PillowCodec(memory_mb=1024).prepare(data)
    # Then it is refused before decoding, naming what it would take and what there is
    assert raised.value.code == "too_much_memory"
    assert "1x50000000 L" in raised.value.message
    assert "768 MiB" in raised.value.message
    # And without a budget only the pixel limit applies, which it passes
    assert probe(data, Limits()).height == 50_000_000


def test_the_budget_follows_the_function_memory() -> None:
    # Given the 1x50,000,000 RGB PNG: about 572 MiB as Pillow holds it, nothing to convert
    data = png_zeros(1, 50_000_000, colour=2)
    # When it is probed under the budgets of a 1024 MB and a 512 MB function
    # Then the larger function takes it and the smaller refuses it
    assert probe(data, _budget(1024)).height == 50_000_000
    with pytest.raises(ImagingError) as raised:
        probe(data, _budget(512))
    assert raised.value.code == "too_much_memory"
    assert decode_budget(1024) == 768 * MIB


@pytest.mark.parametrize(("width", "height", "colour"), [(10_000, 5_000, 2), (10_000, 5_000, 6)])
def test_the_largest_allowed_image_fits_the_smallest_function(
    width: int, height: int, colour: int
) -> None:
    # Given PNG headers of 50 MP, the pixel limit, in RGB and in RGBA
    ihdr = struct.pack(">IIBBBBB", width, height, 8, colour, 0, 0, 0)
    data = b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IEND", b"")
    # When they are probed under the budget of a 1024 MB function (Ingest, Metadata)
    # Then the memory rule refuses neither: the pixel limit stays the one that decides
    assert probe(data, _budget(1024)).width == width


def test_the_estimate_is_what_a_decode_really_takes(tmp_path: Path) -> None:
    # Given a 1x5,000,000 RGBA PNG (alpha: the first resize premultiplies a full copy)
    path = tmp_path / "thin.png"
    path.write_bytes(png_zeros(1, 5_000_000, colour=6))
    # When a separate process estimates it, then loads it and makes the thumbnail
    result = run_python(
        """
        import json, sys
        from imagepipe.imaging import Limits, load, thumbnail
        from imagepipe.imaging.memory import decode_bytes
        data = open(sys.argv[1], "rb").read()
        estimate = decode_bytes("png", (1, 5_000_000), "RGBA", has_alpha=True, has_icc=False,
                                orientation=1, decoder_bytes=10)
        before = peak_kib()
        thumbnail(load(data, Limits()))
        print(json.dumps({"estimate": estimate, "grown": (peak_kib() - before) * 1024}))
        """,
        str(path),
    )
    # Then the process grew by about the estimate: never more than 5 % over it, nor less than
    # 80 % of it (an estimate far above reality would refuse images that fit)
    assert result["grown"] <= result["estimate"] * 1.05
    assert result["grown"] >= result["estimate"] * 0.8
