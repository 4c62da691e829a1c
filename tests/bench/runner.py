"""Runs both jobs per photo in fresh interpreters, scores their outputs and checks the targets."""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from PIL import Image

from tests.bench import ROOT
from tests.bench.jobs import Output, Result, Times
from tests.bench.quality import Reference, decoded_luma, ssim

PHOTOS = ("sunset-12mp.jpg", "dragonfly-13mp.jpg", "wood-5mp.jpg", "sunset-alpha.png")

# The targets this benchmark checks.
MIN_SPEEDUP = 3.0
MAX_SSIM_LOSS = 0.005
MAX_BYTES_DEVIATION = 0.10
MAX_PEAK_RSS_MIB = 256.0
BIG_JPEG_PIXELS = 12_000_000  # the speed, quality and size targets apply to 12 MP+ JPEGs


@dataclass(frozen=True)
class JobSummary:
    job: str
    times: Times  # each field the median over the runs
    cpu_seconds: float  # median
    rss_before_mib: float  # max over the runs
    rss_peak_mib: float  # max over the runs
    outputs: list[Output]  # from the first run
    stable_sizes: bool  # every run made outputs of the same byte sizes

    @property
    def total_bytes(self) -> int:
        return sum(output.size for output in self.outputs)


@dataclass(frozen=True)
class Row:
    """One output of both jobs, compared."""

    name: str
    format: str
    width: int
    height: int
    bytes_ours: int
    bytes_naive: int
    ssim_ours: float
    ssim_naive: float

    @property
    def is_variant(self) -> bool:
        return self.name != "thumbnail"

    @property
    def ssim_delta(self) -> float:
        return self.ssim_ours - self.ssim_naive


@dataclass(frozen=True)
class PhotoResult:
    photo: str
    format: str
    width: int
    height: int
    ours: JobSummary
    naive: JobSummary
    rows: list[Row]

    @property
    def speedup(self) -> float:
        return self.naive.times.total / self.ours.times.total

    @property
    def bytes_ratio(self) -> float:
        return self.ours.total_bytes / self.naive.total_bytes

    @property
    def big_jpeg(self) -> bool:
        return self.format == "JPEG" and self.width * self.height >= BIG_JPEG_PIXELS


@dataclass(frozen=True)
class Check:
    target: str
    photo: str
    passed: bool
    measured: str


def run_job(job: str, photo: Path, outdir: Path, avif_speed: int, cpu: int | None = None) -> Result:
    """One run of a job in a fresh interpreter (python -m tests.bench.jobs)."""
    command = [sys.executable, "-m", "tests.bench.jobs", job, str(photo), str(outdir)]
    command += ["--avif-speed", str(avif_speed)]
    if cpu is not None:
        command += ["--cpu", str(cpu)]
    # Our own interpreter and module with fixed arguments: no untrusted input.
    completed = subprocess.run(  # noqa: S603
        command, cwd=ROOT, capture_output=True, text=True, check=False
    )
    if completed.returncode != 0:
        msg = f"{job} job on {photo.name} failed ({completed.returncode}):\n{completed.stderr}"
        raise RuntimeError(msg)
    return _result(json.loads(completed.stdout.strip().splitlines()[-1]))


def _result(raw: dict[str, Any]) -> Result:
    return Result(
        job=raw["job"],
        photo=raw["photo"],
        avif_speed=raw["avif_speed"],
        times=Times(**raw["times"]),
        cpu_seconds=raw["cpu_seconds"],
        rss_before_mib=raw["rss_before_mib"],
        rss_peak_mib=raw["rss_peak_mib"],
        outputs=[Output(**output) for output in raw["outputs"]],
    )


def summarise(runs: Sequence[Result]) -> JobSummary:
    medians = {
        f.name: statistics.median(getattr(run.times, f.name) for run in runs) for f in fields(Times)
    }
    sizes = [[output.size for output in run.outputs] for run in runs]
    return JobSummary(
        job=runs[0].job,
        times=Times(**medians),
        cpu_seconds=statistics.median(run.cpu_seconds for run in runs),
        rss_before_mib=max(run.rss_before_mib for run in runs),
        rss_peak_mib=max(run.rss_peak_mib for run in runs),
        outputs=runs[0].outputs,
        stable_sizes=all(s == sizes[0] for s in sizes),
    )


def compare(path: Path, ours: JobSummary, naive: JobSummary) -> list[Row]:
    reference = Reference(path)
    naive_by_key = {(o.name, o.format): o for o in naive.outputs}
    rows = []
    for mine in ours.outputs:
        theirs = naive_by_key[(mine.name, mine.format)]
        rows.append(
            Row(
                name=mine.name,
                format=mine.format,
                width=mine.width,
                height=mine.height,
                bytes_ours=mine.size,
                bytes_naive=theirs.size,
                ssim_ours=_score(reference, mine),
                ssim_naive=_score(reference, theirs),
            )
        )
    return rows


def _score(reference: Reference, output: Output) -> float:
    size = (output.width, output.height)
    expected = reference.fitted(size) if output.name == "thumbnail" else reference.resized(size)
    return ssim(expected, decoded_luma(Path(output.file).read_bytes()))


def bench_photo(
    path: Path,
    *,
    avif_speed: int,
    repeat: int,
    workdir: Path,
    cpu: int | None = None,
    progress: Callable[[str], None] = print,
) -> PhotoResult:
    with Image.open(path) as img:
        fmt = img.format or "?"
        width, height = img.size
    runs: dict[str, list[Result]] = {"ours": [], "naive": []}
    for attempt in range(repeat):
        # Alternating, so that a slow spell of the machine hits both jobs alike.
        for job in runs:
            outdir = workdir / path.stem / job / str(attempt)
            result = run_job(job, path, outdir, avif_speed, cpu)
            runs[job].append(result)
            progress(
                f"  {path.name} {job} run {attempt + 1}/{repeat}: {result.times.total:.2f} s, "
                f"{result.rss_peak_mib:.0f} MiB"
            )
    ours, naive = summarise(runs["ours"]), summarise(runs["naive"])
    progress(f"  {path.name}: SSIM against the full-size reference")
    return PhotoResult(path.name, fmt, width, height, ours, naive, compare(path, ours, naive))


def bench(
    photos: Sequence[Path],
    *,
    avif_speed: int,
    repeat: int,
    progress: Callable[[str], None] = print,
) -> list[PhotoResult]:
    cpu = sorted(os.sched_getaffinity(0))[-1] if hasattr(os, "sched_getaffinity") else None
    with tempfile.TemporaryDirectory(prefix="imagepipe-bench-") as tmp:
        # Private copies: a test run elsewhere may clear and refetch the shared photo cache.
        copies = []
        for path in photos:
            copy = Path(tmp) / "photos" / path.name
            copy.parent.mkdir(exist_ok=True)
            shutil.copyfile(path, copy)
            copies.append(copy)
        return [
            bench_photo(
                path,
                avif_speed=avif_speed,
                repeat=repeat,
                workdir=Path(tmp),
                cpu=cpu,
                progress=progress,
            )
            for path in copies
        ]


def check(results: Sequence[PhotoResult]) -> list[Check]:
    checks = []
    for result in results:
        if result.big_jpeg:
            checks.append(
                Check(
                    f"ours >= {MIN_SPEEDUP:g}x faster than naive",
                    result.photo,
                    result.speedup >= MIN_SPEEDUP,
                    f"{result.speedup:.2f}x",
                )
            )
            variants = [row for row in result.rows if row.is_variant]
            worst = min(variants, key=lambda row: row.ssim_delta)
            checks.append(
                Check(
                    f"every variant's SSIM >= naive's - {MAX_SSIM_LOSS}",
                    result.photo,
                    worst.ssim_delta >= -MAX_SSIM_LOSS,
                    f"worst {worst.name} {worst.format}: {worst.ssim_delta:+.4f}",
                )
            )
            checks.append(
                Check(
                    f"total bytes within {MAX_BYTES_DEVIATION:.0%} of naive's",
                    result.photo,
                    abs(result.bytes_ratio - 1) <= MAX_BYTES_DEVIATION,
                    f"ratio {result.bytes_ratio:.3f}",
                )
            )
        checks.append(
            Check(
                f"peak RSS <= {MAX_PEAK_RSS_MIB:g} MiB",
                result.photo,
                result.ours.rss_peak_mib <= MAX_PEAK_RSS_MIB,
                f"{result.ours.rss_peak_mib:.0f} MiB",
            )
        )
    return checks
