"""The reference pipeline of issue #16 in sharp (Node.js, libvips), beside ours in `make bench`:

    .venv/bin/python -m tests.bench.sharp PHOTO [--preset defaults|effort3 ...] [--cpu C]

prints one JSON object (a `tests.bench.jobs.Result`) per preset. PHOTO is a path or a name from
tests/photos.py.

sharp/reference.mjs runs the pipeline and measures itself: thumbnail
`sharp(input).rotate().resize(150, 150, {fit: "cover"}).webp({quality: 70})`, then for 640, 1024
and 1920 `resize(w, null, {withoutEnlargement: true})` with `.webp({quality: q})` and
`.avif({quality: q})`, q = 80/85/90; preset "defaults" keeps sharp's AVIF effort (4), "effort3"
passes `effort: 3`. It runs on one thread, as ours does: the process is pinned to one CPU
before node starts, libvips and libuv get one thread each (VIPS_CONCURRENCY, UV_THREADPOOL_SIZE)
and the script calls `sharp.concurrency(1)`.

sharp comes from the npm registry (sharp/package.json pins it, package-lock.json pins its
prebuilt libvips): `ensure_installed()` runs `npm ci` in tests/bench/sharp when node_modules is
missing or older than the lock file. Without node, npm or the registry, `available()` says why
and the benchmark reports that instead of failing."""

from __future__ import annotations

import argparse
import fcntl
import functools
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

from tests.bench.jobs import Output, Result, Times, pin_to_one_cpu

DIRECTORY = Path(__file__).resolve().with_name("sharp")
SCRIPT = DIRECTORY / "reference.mjs"
NODE_MODULES = DIRECTORY / "node_modules"
# Written after a successful `npm ci`: node_modules is up to date when it is newer than both.
STAMP = NODE_MODULES / ".installed"
MANIFESTS = (DIRECTORY / "package.json", DIRECTORY / "package-lock.json")
PRESETS = ("defaults", "effort3")
INSTALL_TIMEOUT = 300.0  # seconds; sharp and its prebuilt libvips are ~20 MB
PROBE_TIMEOUT = 60.0
RUN_TIMEOUT = 900.0  # a 12 MP photo at the default AVIF effort takes about a minute of CPU
# One thread for libvips and for libuv's pool (sharp runs its pipelines there).
ONE_THREAD = {"VIPS_CONCURRENCY": "1", "UV_THREADPOOL_SIZE": "1"}


def _installed() -> bool:
    if not STAMP.is_file():
        return False
    stamped = STAMP.stat().st_mtime
    return all(manifest.stat().st_mtime <= stamped for manifest in MANIFESTS)


def ensure_installed() -> str | None:
    """Install sharp into tests/bench/sharp/node_modules unless it is there; None when it is,
    else why not (a short reason, never an exception)."""
    if shutil.which("node") is None:
        return "node not found"
    if _installed():
        return None
    npm = shutil.which("npm")
    if npm is None:
        return "npm not found"
    # Two runs at once install once. The lock is on the directory: `npm ci` first removes
    # node_modules, and a lock file in there with it.
    lock = os.open(DIRECTORY, os.O_RDONLY)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _installed():
            return None
        # npm with fixed arguments in our own directory: no untrusted input.
        try:
            completed = subprocess.run(  # noqa: S603
                [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
                cwd=DIRECTORY,
                capture_output=True,
                text=True,
                timeout=INSTALL_TIMEOUT,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return f"npm ci timed out after {INSTALL_TIMEOUT:.0f} s"
        except OSError as error:
            return f"npm ci failed: {error}"
        if completed.returncode != 0:
            return f"npm ci failed ({completed.returncode}): {_reason(completed.stderr)}"
        STAMP.touch()
    finally:
        os.close(lock)  # releases the lock
    return None


@functools.cache
def _probe() -> tuple[str | None, dict[str, str]]:
    """(why sharp is unusable or None, its versions): installs it, then loads it in node."""
    reason = ensure_installed()
    if reason is not None:
        return reason, {}
    node = shutil.which("node")
    if node is None:
        return "node not found", {}
    try:
        completed = subprocess.run(  # noqa: S603  (our script, fixed arguments)
            [node, str(SCRIPT), "--versions"],
            cwd=DIRECTORY,
            capture_output=True,
            text=True,
            timeout=PROBE_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"node failed to load sharp: {error}", {}
    if completed.returncode != 0:
        return f"node failed to load sharp: {_reason(completed.stderr)}", {}
    versions: dict[str, str] = json.loads(completed.stdout)
    return None, versions


def available() -> str | None:
    """None when the sharp pipeline can run here, else the reason (installs sharp if needed)."""
    return _probe()[0]


def sharp_version() -> str | None:
    """The versions for the report's environment line, "sharp X (libvips Y)"; None when
    sharp is unusable."""
    reason, versions = _probe()
    if reason is not None:
        return None
    return f"sharp {versions['sharp']} (libvips {versions['vips']})"


def run_sharp(photo: Path, outdir: Path, *, preset: str, cpu: int | None) -> Result:
    """One run of the reference pipeline in a fresh node process pinned to `cpu` (None: the
    last CPU this process may use, as tests/bench/jobs.py picks). Raises RuntimeError when
    sharp is unusable (see `available()`) or the run fails."""
    if preset not in PRESETS:
        msg = f"unknown preset {preset!r}; known: {', '.join(PRESETS)}"
        raise ValueError(msg)
    reason = available()
    node = shutil.which("node")
    if reason is not None or node is None:
        msg = f"sharp is not available: {reason or 'node not found'}"
        raise RuntimeError(msg)
    command = [node, str(SCRIPT), str(photo.resolve()), str(outdir.resolve()), preset]
    # Pinned in the child before node starts, so every thread it makes inherits the one CPU.
    completed = subprocess.run(  # noqa: S603  (our script, paths and a checked preset)
        command,
        cwd=DIRECTORY,
        env={**os.environ, **ONE_THREAD},
        preexec_fn=functools.partial(pin_to_one_cpu, cpu),
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
    )
    if completed.returncode != 0:
        msg = f"sharp-{preset} on {photo.name} failed ({completed.returncode}):\n{completed.stderr}"
        raise RuntimeError(msg)
    return _result(json.loads(completed.stdout.strip().splitlines()[-1]))


def _result(raw: dict[str, Any]) -> Result:
    times = raw["times"]
    return Result(
        job=raw["job"],
        photo=raw["photo"],
        avif_speed=None,
        times=Times(thumbnail=times["thumbnail"], variants=times["variants"], total=times["total"]),
        cpu_seconds=raw["cpu_seconds"],
        rss_before_mib=raw["rss_before_mib"],
        rss_peak_mib=raw["rss_peak_mib"],
        outputs=[Output(**output) for output in raw["outputs"]],
    )


def _reason(stderr: str) -> str:
    """The telling line of npm's or node's error output: the first "SomeError: message" (npm
    prints a stack and a log file's path after it), else its error code, else the last line."""
    lines = [line.removeprefix("npm error").strip() for line in stderr.splitlines()]
    lines = [line for line in lines if line and not line.startswith("A complete log")]
    found = next((line for line in lines if re.match(r"[\w.]*Error\b.*:", line)), None)
    found = found or next((line for line in lines if line.startswith("code ")), None)
    reason = found or (lines[-1] if lines else "no message")
    return reason if len(reason) <= 200 else reason[:199] + "…"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.sharp")
    parser.add_argument("photo", help="a path, or a name from tests/photos.py")
    parser.add_argument(
        "--preset", action="append", choices=PRESETS, help="repeatable (default: defaults)"
    )
    parser.add_argument("--cpu", type=int, default=None, help="pin to this CPU (default: one)")
    parser.add_argument("--outdir", type=Path, default=None, help="default: a new temporary one")
    args = parser.parse_args(argv)
    reason = available()
    if reason is not None:
        print(f"sharp is not available: {reason}", file=sys.stderr)
        return 1
    photo = Path(args.photo)
    if not photo.is_file():
        from tests.photos import PHOTOS
        from tests.photos import photo as named_photo

        if args.photo not in PHOTOS:
            parser.error(f"{args.photo}: no such file, nor a photo of tests/photos.py")
        photo = named_photo(args.photo)
    outdir = args.outdir or Path(tempfile.mkdtemp(prefix="sharp-"))
    for preset in args.preset or ["defaults"]:
        result = run_sharp(photo, outdir / preset, preset=preset, cpu=args.cpu)
        json.dump(asdict(result), sys.stdout)
        sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
