"""The sharp reference pipeline (tests/bench/sharp.py) on real images: the outputs the issue
names, at the right sizes, decodable, with the job's CPU and memory measured. Installs sharp
from the npm registry on first use; skipped, with the reason, where node, npm or the registry
is missing."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from tests.bench import sharp as sharp_module
from tests.bench.jobs import Result
from tests.bench.sharp import available, ensure_installed, run_sharp, sharp_version
from tests.photos import photo

EXPECTED = [
    ("thumbnail", "webp"),
    ("small", "webp"),
    ("small", "avif"),
    ("medium", "webp"),
    ("medium", "avif"),
    ("large", "webp"),
    ("large", "avif"),
]


@pytest.fixture(scope="module")
def sharp() -> None:
    reason = available()
    if reason is not None:
        pytest.skip(f"sharp is not available: {reason}")


def _check(result: Result, sizes: dict[str, tuple[int, int]]) -> None:
    assert [(output.name, output.format) for output in result.outputs] == EXPECTED
    for output in result.outputs:
        assert (output.width, output.height) == sizes[output.name], output
        path = Path(output.file)
        assert path.name == f"{output.name}.{output.format}"
        assert path.stat().st_size == output.size > 0
        with Image.open(path) as img:
            assert img.format == output.format.upper()
            assert img.size == sizes[output.name]
            img.load()
    assert result.avif_speed is None
    assert result.cpu_seconds > 0
    assert 0 < result.rss_before_mib < result.rss_peak_mib
    assert 0 < result.times.thumbnail < result.times.total
    assert 0 < result.times.variants < result.times.total


@pytest.mark.usefixtures("sharp")
def test_effort3_on_a_5mp_photo(tmp_path: Path) -> None:
    result = run_sharp(photo("wood-5mp.jpg"), tmp_path, preset="effort3", cpu=None)

    assert result.job == "sharp-effort3"
    assert result.photo == "wood-5mp.jpg"
    # 2560x1920: every variant is a downscale.
    sizes = {"thumbnail": (150, 150), "small": (640, 480), "medium": (1024, 768)}
    _check(result, {**sizes, "large": (1920, 1440)})


@pytest.mark.usefixtures("sharp")
def test_defaults_honour_the_orientation_and_never_enlarge(tmp_path: Path) -> None:
    source = tmp_path / "rotated.jpg"
    with Image.open(photo("wood-5mp.jpg")) as img:
        small = img.resize((320, 240))
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: shown rotated 90° clockwise, 240x320
    small.save(source, "JPEG", quality=90, exif=exif)

    result = run_sharp(source, tmp_path / "out", preset="defaults", cpu=None)

    assert result.job == "sharp-defaults"
    upright = (240, 320)
    _check(result, {"thumbnail": (150, 150), "small": upright, "medium": upright, "large": upright})


@pytest.mark.usefixtures("sharp")
def test_versions() -> None:
    version = sharp_version()
    assert version is not None
    assert version.startswith("sharp ")
    assert "libvips " in version


def test_without_node_it_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("shutil.which", lambda _name: None)

    assert ensure_installed() == "node not found"


def test_npm_errors_are_told_in_one_line() -> None:
    stderr = (
        "npm error code ECONNREFUSED\n"
        "npm error FetchError: request to https://registry.npmjs.org/sharp failed\n"
        "npm error     at ClientRequest.<anonymous> (index.js:130:14)\n"
        "npm error A complete log of this run can be found in: /root/.npm/_logs/x.log\n"
    )

    reason = sharp_module._reason(stderr)

    assert reason == "FetchError: request to https://registry.npmjs.org/sharp failed"
