"""python -m tests.bench: measure, print the Markdown report, write it to RESULTS.md.

Exits 0 even when a target fails: it is a measurement, not a test."""

from __future__ import annotations

import argparse
import importlib
import os
import shlex
import sys
import time
from collections.abc import Callable
from pathlib import Path

from tests.bench import ROOT, sharp
from tests.bench.ingest import bench_ingest, render_ingest
from tests.bench.report import Environment, Run, render, verdict
from tests.bench.runner import PHOTOS, Check, bench, check
from tests.photos import photo

DEFAULT_OUTPUT = Path(__file__).resolve().parent / "RESULTS.md"


def template_avif_speed() -> int:
    """The AvifSpeed parameter's Default in template.yaml: what the deployed function uses."""
    # Only needed without --avif-speed: yaml and the template reader stay unloaded otherwise.
    from imagepipe_local.template import Template

    return int(Template.load().parameters["AvifSpeed"])


def _photos(value: str) -> list[str]:
    names = [name.strip() for name in value.split(",") if name.strip()]
    unknown = [name for name in names if name not in PHOTOS]
    if unknown or not names:
        msg = f"unknown photo(s) {', '.join(unknown) or '(none)'}; known: {', '.join(PHOTOS)}"
        raise argparse.ArgumentTypeError(msg)
    return names


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        msg = f"must be at least 1, got {number}"
        raise argparse.ArgumentTypeError(msg)
    return number


def _speed(value: str) -> int:
    number = int(value)
    if not 0 <= number <= 10:
        msg = f"AVIF speed is 0 to 10, got {number}"
        raise argparse.ArgumentTypeError(msg)
    return number


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tests.bench",
        description="Our Variants job against a full-decode Pillow job and sharp, on real photos.",
    )
    parser.add_argument(
        "--avif-speed",
        type=_speed,
        default=None,
        help="AVIF speed of our job (default: template.yaml's AvifSpeed default)",
    )
    parser.add_argument(
        "--repeat", type=_positive, default=3, help="runs per job, median taken (default 3)"
    )
    parser.add_argument(
        "--photos",
        type=_photos,
        default=list(PHOTOS),
        help=f"comma-separated, from {','.join(PHOTOS)} (default: all)",
    )
    parser.add_argument(
        "--only",
        choices=("imaging", *SECTIONS),
        default=None,
        help="run one part; the report keeps the other part's last figures (default: both)",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=DEFAULT_OUTPUT,
        help="where to write the Markdown report (default: tests/bench/RESULTS.md)",
    )
    return parser.parse_args(argv)


# The sections after the imaging report, in this order: name -> its heading.
SECTIONS = {
    "ingest": "## Ingest: hashing a 256 MiB upload",
    "coldstart": "## API cold start",
    "throughput": "## Local throughput",
}


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    output: Path = args.output
    previous = output.read_text(encoding="utf-8") if output.exists() else ""

    def progress(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    imaging, sections = split(previous)
    checks: list[Check] = []
    if args.only in (None, "imaging"):
        imaging, checks = _imaging(args, argv, progress)
    for name in SECTIONS:
        if args.only in (None, name):
            started = time.perf_counter()
            sections[name], section_checks = _section(name, args.repeat, progress)
            checks += section_checks
            progress(f"{name}: {time.perf_counter() - started:.0f} s")
    report = "\n\n".join(
        part.strip("\n") for part in (imaging, *(sections.get(n) for n in SECTIONS)) if part
    )
    _write(output, report + "\n")
    # The verdict again, last, where nobody scrolling a terminal can miss a FAIL.
    for failed in (c for c in checks if not c.passed):
        progress(f"FAIL  {failed.target}: {failed.photo} {failed.measured}")
    progress(verdict(checks).replace("**", ""))
    progress(f"report written to {_shown(output)}")
    return 0


def split(report: str) -> tuple[str | None, dict[str, str]]:
    """A report's imaging part and its sections by name (to keep what this run does not redo)."""
    positions = sorted(
        (report.index(heading), name) for name, heading in SECTIONS.items() if heading in report
    )
    ends = [start for start, _ in positions[1:]] + [len(report)] if positions else []
    sections = {name: report[start:end] for (start, name), end in zip(positions, ends, strict=True)}
    imaging = report[: positions[0][0]] if positions else report
    return (imaging if imaging.strip() else None), sections


def _imaging(
    args: argparse.Namespace, argv: list[str] | None, progress: Callable[[str], None]
) -> tuple[str, list[Check]]:
    started = time.perf_counter()
    load_before = _load()
    if args.avif_speed is None:
        avif_speed, source = template_avif_speed(), "template.yaml AvifSpeed default"
    else:
        avif_speed, source = args.avif_speed, "--avif-speed"
    progress(f"imaging benchmark: AVIF speed {avif_speed}, {args.repeat} run(s) per job")
    paths = [photo(name) for name in args.photos]
    results = bench(paths, avif_speed=avif_speed, repeat=args.repeat, progress=progress)
    checks = check(results)
    command = shlex.join(["python", "-m", "tests.bench", *(sys.argv[1:] if argv is None else argv)])
    elapsed = time.perf_counter() - started
    missing = sharp.available()
    sharp_line = f"sharp not measured: {missing}" if missing else (sharp.sharp_version() or "sharp")
    run = Run(avif_speed, source, args.repeat, command, elapsed, (load_before, _load()), sharp_line)
    return render(Environment.detect(), run, results, checks), checks


def _section(name: str, repeat: int, progress: Callable[[str], None]) -> tuple[str, list[Check]]:
    started = time.perf_counter()
    if name == "ingest":
        summaries = bench_ingest(repeat, progress)
        return render_ingest(summaries, repeat, time.perf_counter() - started), []
    module = importlib.import_module(f"tests.bench.{name}")
    summary = getattr(module, f"bench_{name}")(repeat, progress)
    elapsed = time.perf_counter() - started
    text = getattr(module, f"render_{name}")(summary, elapsed)
    return text, list(getattr(module, f"check_{name}")(summary))


def _write(output: Path, report: str) -> None:
    print(report)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(report, encoding="utf-8")


def _load() -> float:
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0


def _shown(path: Path) -> str:
    resolved = path.resolve()
    return str(resolved.relative_to(ROOT)) if resolved.is_relative_to(ROOT) else str(resolved)


if __name__ == "__main__":
    raise SystemExit(main())
