"""Real photos (tests/photos.py), decoded once per session. Tests must not modify the session
images: they copy, resize or convert them first."""

from __future__ import annotations

import pytest
from PIL import Image

from imagepipe.imaging import Limits, load
from tests.imaging.helpers import shrink
from tests.photos import photo


@pytest.fixture(scope="session")
def sunset_bytes() -> bytes:
    """The 12.2 MP progressive JPEG."""
    return photo("sunset-12mp.jpg").read_bytes()


@pytest.fixture(scope="session")
def dragonfly_bytes() -> bytes:
    """The 13.4 MP JPEG, unrelated to the sunset."""
    return photo("dragonfly-13mp.jpg").read_bytes()


@pytest.fixture(scope="session")
def wood_bytes() -> bytes:
    """The 4.9 MP JPEG with its camera's EXIF."""
    return photo("wood-5mp.jpg").read_bytes()


@pytest.fixture(scope="session")
def sunset_alpha_bytes() -> bytes:
    """The 12.2 MP RGBA PNG, alpha 255 at the top falling to 0 at the bottom."""
    return photo("sunset-alpha.png").read_bytes()


@pytest.fixture(scope="session")
def sunset_full() -> Image.Image:
    """The sunset decoded at full size by Pillow alone: the reference for resizes."""
    with Image.open(photo("sunset-12mp.jpg")) as img:
        return img.convert("RGB")


@pytest.fixture(scope="session")
def sunset_for_variants(sunset_bytes: bytes) -> Image.Image:
    """The sunset as the variants job decodes it (whole: it is less than four times 1920 px)."""
    return load(sunset_bytes, Limits(), target_width=1920)


@pytest.fixture(scope="session")
def small_photo(sunset_full: Image.Image) -> Image.Image:
    """A real photo at 640x427, to build the edge cases from."""
    return shrink(sunset_full, 640)


@pytest.fixture(scope="session")
def tiny_photo(sunset_full: Image.Image) -> Image.Image:
    """A real photo at 96x64: big enough to tell rotations apart, cheap in pure Python."""
    return shrink(sunset_full, 96)
