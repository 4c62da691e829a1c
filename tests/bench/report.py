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
    sharp: str  # sharp's and libvips' versions, or why sharp was not measured


JOB_LABELS = {
    "ours": "ours",
    "naive": "full-decode",
    "sharp-effort3": "sharp e3",
    "sharp-defaults": "sharp default",
}


def render(
    env: Environment, run: Run, results: Sequence[PhotoResult], checks: Sequence[Check]
) -> str:
    lines = [
        "# Imaging benchmark: our Variants job, a full-decode Pillow job and sharp",
        "",
        f"Latest figures of `{run.command}` (run time {run.elapsed:.0f} s).",
        "",
        f"- Machine: {env.cpu}, {env.cores} cores; every job pinned to one CPU, one thread",
        (
            f"- Load average (1 min) {run.load[0]:.2f} at the start, {run.load[1]:.2f} at the end "
            "(CPU seconds, the measure of the targets, are nearly immune to other work)"
        ),
        (
            f"- Python {env.python}, Pillow {env.pillow}, libavif {env.libavif} "
            f"({env.avif_codecs}), libwebp {env.libwebp}; {run.sharp}"
        ),
        f"- AVIF speed {run.avif_speed} ({run.avif_speed_source})",
        (
            f"- Times: median of {run.repeat} runs, each in a fresh process; peak RSS: the "
            f"highest of the {run.repeat} (VmHWM / maxRSS, interpreter and imports included)"
        ),
        (
            "- **ours**: `imaging.load(data, Limits(), target_width=1920)`, "
            "`imaging.thumbnail(img)`, `imaging.variants(img, avif_speed=S, workers=1)`: the "
            "Variants worker's calls"
        ),
        (
            "- **full-decode**: the same encoders at the same qualities, the whole image decoded, "
            "every size resized from the full original with LANCZOS, WebP method 4 whatever "
            "the alpha: the reference our variants' detail is held to"
        ),
        (
            "- **sharp e3 / sharp default**: the reference pipeline in sharp "
            "(tests/bench/sharp/reference.mjs): thumbnail `resize(150,150,{fit:'cover'})"
            ".webp({quality:70})`, variants `resize(w, null, {withoutEnlargement:true})` then "
            "`.webp({quality:q})` and `.avif({quality:q})`, q = 80/85/90; AVIF effort 3, or "
            "sharp's default (4)"
        ),
        (
            "- Scores against the full-size original resized with LANCZOS in float: SSIMULACRA2 "
            "(the `ssimulacra2` package; alpha on dark and light grey, the worse), PSNR over "
            "R, G, B (alpha on white), SSIM on luma (Gaussian 11x11, sigma 1.5)"
        ),
        "",
        "## Summary",
        "",
        _row(
            "Photo",
            "Pixels",
            *(f"CPU s {JOB_LABELS[j]}" for j in JOB_LABELS),
            "ours / sharp e3",
            "ours / sharp default",
            *(f"Peak RSS {JOB_LABELS[j]} MiB" for j in JOB_LABELS),
            "Bytes ours",
            "Bytes sharp e3",
        ),
        _rule(14),
    ]
    for r in results:
        cpu = {j: r.jobs[j].cpu_seconds for j in r.jobs}
        lines.append(
            _row(
                r.photo,
                f"{r.width}x{r.height}",
                *(_fmt(cpu.get(j), ".2f") for j in JOB_LABELS),
                _ratio(cpu["ours"], cpu.get("sharp-effort3")),
                _ratio(cpu["ours"], cpu.get("sharp-defaults")),
                *(_fmt(r.jobs[j].rss_peak_mib if j in r.jobs else None, ".0f") for j in JOB_LABELS),
                f"{r.ours.total_bytes:,}",
                f"{r.jobs['sharp-effort3'].total_bytes:,}" if "sharp-effort3" in r.jobs else "-",
            )
        )
    missing = {r.sharp_missing for r in results if r.sharp_missing}
    if missing:
        lines += ["", f"sharp was not measured: {'; '.join(sorted(missing))}."]
    lines += [
        "",
        "## Stage times (seconds)",
        "",
        (
            "Our jobs' wall time per stage (sharp's cannot be split). Variants = resize + encode "
            "WebP + encode AVIF + other; each column is its own median."
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
                    JOB_LABELS[summary.job],
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
        (
            "AVIF/WebP: our AVIF's bytes over our WebP's of the same size. SSIMULACRA2: ~90 is "
            "visually lossless, ~70 high quality; the thumbnail is not a variant for the targets."
        ),
        "",
        _row(
            "Photo",
            "Output",
            "Size",
            *(f"Bytes {JOB_LABELS[j]}" for j in ("ours", "naive", "sharp-effort3")),
            "AVIF/WebP ours",
            "AVIF/WebP sharp e3",
            *(f"SSIMULACRA2 {JOB_LABELS[j]}" for j in ("ours", "naive", "sharp-effort3")),
            *(f"PSNR {JOB_LABELS[j]}" for j in ("ours", "naive", "sharp-effort3")),
            "SSIM ours",
        ),
        _rule(15),
    ]
    for r in results:
        for row in r.rows:
            sc = row.scores
            lines.append(
                _row(
                    r.photo,
                    f"{row.name} {row.format}",
                    f"{row.width}x{row.height}",
                    *(
                        f"{sc[j].bytes:,}" if j in sc else "-"
                        for j in ("ours", "naive", "sharp-effort3")
                    ),
                    _avif_ratio(r, row.name, row.format, "ours"),
                    _avif_ratio(r, row.name, row.format, "sharp-effort3"),
                    *(
                        _fmt(sc[j].ssimulacra2 if j in sc else None, ".1f")
                        for j in ("ours", "naive", "sharp-effort3")
                    ),
                    *(
                        _fmt(sc[j].psnr if j in sc else None, ".2f")
                        for j in ("ours", "naive", "sharp-effort3")
                    ),
                    f"{sc['ours'].ssim:.4f}",
                )
            )
    unstable = [
        f"{r.photo} {s.job}" for r in results for s in r.jobs.values() if not s.stable_sizes
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


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _ratio(ours: float, theirs: float | None) -> str:
    return "-" if not theirs else f"{ours / theirs:.3f}x"


def _avif_ratio(result: PhotoResult, name: str, fmt: str, job: str) -> str:
    if fmt != "avif" or name == "thumbnail" or job not in result.row(name, fmt).scores:
        return ""
    avif = result.row(name, "avif").scores[job].bytes
    return f"{avif / result.row(name, 'webp').scores[job].bytes:.3f}"


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
