"""The benchmark's Markdown report: environment, summary, stage times, outputs, targets."""

from __future__ import annotations

import os
import platform
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import PIL
from PIL import features

from tests.bench.jobs import Times
from tests.bench.runner import Check, PhotoResult


@dataclass(frozen=True)
class Environment:
    cpu: str
    cores: int
    python: str
    pillow: str
    libavif: str
    avif_codecs: str
    libwebp: str

    @classmethod
    def detect(cls) -> Environment:
        return cls(
            cpu=_cpu_model(),
            cores=os.cpu_count() or 1,
            python=platform.python_version(),
            pillow=PIL.__version__,
            libavif=features.version("avif") or "none",
            avif_codecs=_avif_codecs(),
            libwebp=features.version("webp") or "none",
        )


def _cpu_model() -> str:
    try:
        with Path("/proc/cpuinfo").open(encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                key, _, value = line.partition(":")
                if key.strip() in ("model name", "Model", "Hardware"):
                    return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def _avif_codecs() -> str:
    try:
        from PIL import _avif
    except ImportError:
        return "none"
    return str(_avif.codec_versions())


@dataclass(frozen=True)
class Run:
    avif_speed: int
    avif_speed_source: str
    repeat: int
    command: str
    elapsed: float
    load: tuple[float, float]  # 1-minute load average at the start and at the end


def render(
    env: Environment, run: Run, results: Sequence[PhotoResult], checks: Sequence[Check]
) -> str:
    lines = [
        "# Imaging benchmark: our Variants job against a naive Pillow job",
        "",
        f"Latest figures of `{run.command}` (run time {run.elapsed:.0f} s).",
        "",
        f"- Machine: {env.cpu}, {env.cores} cores; every job pinned to one CPU, one thread",
        (
            f"- Load average (1 min) {run.load[0]:.2f} at the start, {run.load[1]:.2f} at the end "
            "(other work on the machine shows as CPU/wall below 1.00)"
        ),
        (
            f"- Python {env.python}, Pillow {env.pillow}, libavif {env.libavif} "
            f"({env.avif_codecs}), libwebp {env.libwebp}"
        ),
        (
            f"- AVIF speed: ours {run.avif_speed} ({run.avif_speed_source}); "
            "naive: Pillow's default (6)"
        ),
        (
            f"- Times: median of {run.repeat} runs, each in a fresh interpreter; "
            f"peak RSS: the highest of the {run.repeat} (VmHWM, interpreter and imports included)"
        ),
        (
            "- Ours: `imaging.load(data, Limits(), target_width=1920)`, `imaging.thumbnail(img)`, "
            "`imaging.variants(img, avif_speed=S, workers=1)`"
        ),
        (
            "- Naive: `Image.open` + full decode, `exif_transpose`, each width resized from "
            "the full original (LANCZOS), WebP q80/85/90 and AVIF at Pillow's defaults, "
            "`ImageOps.fit` 150x150 WebP q70"
        ),
        (
            "- SSIM: luma against the full-size original resized with LANCZOS in float "
            "(alpha composited on white), Gaussian 11x11, sigma 1.5"
        ),
        "",
        "## Summary",
        "",
        (
            "Speedup = naive total / ours total (wall clock, the target's measure); by CPU "
            "seconds it is nearly immune to other work on the machine."
        ),
        "",
        _row(
            "Photo",
            "Pixels",
            "Ours s",
            "Naive s",
            "Speedup",
            "Speedup (CPU s)",
            "Peak RSS ours MiB",
            "Peak RSS naive MiB",
            "Bytes ours",
            "Bytes naive",
            "Bytes ratio",
        ),
        _rule(11),
    ]
    for r in results:
        lines.append(
            _row(
                r.photo,
                f"{r.width}x{r.height}",
                f"{r.ours.times.total:.2f}",
                f"{r.naive.times.total:.2f}",
                f"{r.speedup:.2f}x",
                f"{r.naive.cpu_seconds / r.ours.cpu_seconds:.2f}x",
                f"{r.ours.rss_peak_mib:.0f}",
                f"{r.naive.rss_peak_mib:.0f}",
                f"{r.ours.total_bytes:,}",
                f"{r.naive.total_bytes:,}",
                f"{r.bytes_ratio:.3f}",
            )
        )
    lines += [
        "",
        "## Stage times (seconds)",
        "",
        (
            "Variants = resize + encode WebP + encode AVIF + other (copies between the calls); "
            "each column is its own median. CPU/wall near 1.00 confirms one thread."
        ),
        "",
        _row(
            "Photo",
            "Job",
            "Decode",
            "Thumbnail",
            "Resize",
            "Encode WebP",
            "Encode AVIF",
            "Other",
            "Variants",
            "Total",
            "CPU/wall",
            "RSS before MiB",
        ),
        _rule(12),
    ]
    for r in results:
        for summary in (r.ours, r.naive):
            t: Times = summary.times
            lines.append(
                _row(
                    r.photo,
                    summary.job,
                    *(
                        f"{value:.3f}"
                        for value in (
                            t.decode,
                            t.thumbnail,
                            t.resize,
                            t.encode_webp,
                            t.encode_avif,
                            t.other,
                            t.variants,
                            t.total,
                        )
                    ),
                    f"{summary.cpu_seconds / t.total:.2f}",
                    f"{summary.rss_before_mib:.0f}",
                )
            )
    lines += [
        "",
        "## Outputs",
        "",
        "SSIM delta = ours - naive; the thumbnail is shown but is not a variant for the targets.",
        "",
        _row(
            "Photo",
            "Output",
            "Size",
            "Bytes ours",
            "Bytes naive",
            "Ratio",
            "SSIM ours",
            "SSIM naive",
            "SSIM delta",
        ),
        _rule(9),
    ]
    for r in results:
        for row in r.rows:
            lines.append(
                _row(
                    r.photo,
                    f"{row.name} {row.format}",
                    f"{row.width}x{row.height}",
                    f"{row.bytes_ours:,}",
                    f"{row.bytes_naive:,}",
                    f"{row.bytes_ours / row.bytes_naive:.3f}",
                    f"{row.ssim_ours:.4f}",
                    f"{row.ssim_naive:.4f}",
                    f"{row.ssim_delta:+.4f}",
                )
            )
    unstable = [
        f"{r.photo} {s.job}" for r in results for s in (r.ours, r.naive) if not s.stable_sizes
    ]
    if unstable:
        lines += [
            "",
            f"Output sizes varied between runs for: {', '.join(unstable)} (first run shown).",
        ]
    lines += [
        "",
        "## Targets",
        "",
        verdict(checks),
        "",
        _row("Result", "Target", "Photo", "Measured"),
    ]
    lines.append(_rule(4))
    for c in checks:
        lines.append(_row(_mark(c.passed), c.target, c.photo, c.measured))
    lines.append("")
    return "\n".join(lines)


def verdict(checks: Sequence[Check]) -> str:
    failed = [c for c in checks if not c.passed]
    if not checks:
        return "No target applies to the photos measured."
    if not failed:
        return f"**All {len(checks)} targets PASS.**"
    names = "; ".join(f"{c.target} ({c.photo}: {c.measured})" for c in failed)
    return f"**{len(failed)} of {len(checks)} targets FAIL**: {names}."


def _mark(passed: bool) -> str:
    return "PASS" if passed else "**FAIL**"


def _row(*cells: str) -> str:
    return "| " + " | ".join(cells) + " |"


def _rule(columns: int) -> str:
    return "|" + "---|" * columns
