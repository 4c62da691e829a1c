"""One measured job in the interpreter that runs it; the runner starts a fresh one per run:

    python -m tests.bench.jobs {ours,naive} PHOTO OUTDIR --avif-speed N --cpu C

prints one JSON object (see `Result`) on stdout and writes the job's outputs into OUTDIR.

The process first pins itself to one CPU: Pillow's AVIF saver and our render module both size
their encoder thread pools from the CPU affinity, so every encode runs on one thread, as on a
1-vCPU Lambda. Numpy is never imported here: the peak RSS must be the job's, not the tooling's."""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image, ImageOps

from imagepipe import imaging

THUMBNAIL_SIZE = 150
THUMBNAIL_QUALITY = 70
JOBS = ("ours", "naive")


@dataclass
class Output:
    name: str
    format: str
    width: int
    height: int
    size: int
    file: str


@dataclass
class Times:
    """Seconds. decode, thumbnail and variants are the stages; resize, encode_webp, encode_avif
    and other split the variants stage (other: copies and mode checks between the calls)."""

    decode: float = 0.0
    thumbnail: float = 0.0
    variants: float = 0.0
    resize: float = 0.0
    encode_webp: float = 0.0
    encode_avif: float = 0.0
    other: float = 0.0
    total: float = 0.0


@dataclass
class Result:
    job: str
    photo: str
    avif_speed: int | None  # None: Pillow's default
    times: Times
    cpu_seconds: float  # user + system over the job: about total when it ran on one thread
    rss_before_mib: float  # after the imports and reading the file, before the job
    rss_peak_mib: float  # the process's high-water mark, imports and file bytes included
    outputs: list[Output] = field(default_factory=list)


class CallTimer:
    """Times the outermost Image.resize and Image.save calls made inside `watch()`.

    The module under test is not changed: the same calls are made, only wrapped. Outermost
    only, because Pillow's resize of RGBA calls resize again on a premultiplied copy."""

    def __init__(self) -> None:
        self.resize = 0.0
        self.encode: dict[str, float] = {}
        self._depth = 0

    @contextmanager
    def watch(self) -> Iterator[None]:
        original_resize = Image.Image.resize
        original_save = Image.Image.save

        def resize(img: Image.Image, *args: Any, **kwargs: Any) -> Image.Image:
            started = self._enter()
            try:
                return original_resize(img, *args, **kwargs)
            finally:
                if self._leave():
                    self.resize += time.perf_counter() - started

        def save(img: Image.Image, *args: Any, **kwargs: Any) -> None:
            fmt = str(args[1] if len(args) > 1 else kwargs.get("format", "?")).lower()
            started = self._enter()
            try:
                original_save(img, *args, **kwargs)
            finally:
                if self._leave():
                    self.encode[fmt] = self.encode.get(fmt, 0.0) + time.perf_counter() - started

        setattr(Image.Image, "resize", resize)  # noqa: B010  (mypy rejects assigning a method)
        setattr(Image.Image, "save", save)  # noqa: B010
        try:
            yield
        finally:
            setattr(Image.Image, "resize", original_resize)  # noqa: B010
            setattr(Image.Image, "save", original_save)  # noqa: B010

    def _enter(self) -> float:
        self._depth += 1
        return time.perf_counter()

    def _leave(self) -> bool:
        self._depth -= 1
        return self._depth == 0

    def split(self, times: Times) -> None:
        times.resize = self.resize
        times.encode_webp = self.encode.get("webp", 0.0)
        times.encode_avif = self.encode.get("avif", 0.0)
        times.other = times.variants - times.resize - times.encode_webp - times.encode_avif


Rendered = tuple[str, str, int, int, bytes]  # name, format, width, height, data


def run_ours(data: bytes, avif_speed: int, times: Times) -> list[Rendered]:
    """The Variants worker's calls (adapters/codec.py), with workers=1, plus the thumbnail made
    from the same decoded image (Ingest makes it from its own, smaller, decode)."""
    timer = CallTimer()
    started = time.perf_counter()
    img = imaging.load(data, imaging.Limits(), target_width=imaging.VARIANT_SPECS[-1].width)
    decoded = time.perf_counter()
    thumb = imaging.thumbnail(img)
    thumbnailed = time.perf_counter()
    with timer.watch():
        outputs = imaging.variants(img, avif_speed=avif_speed, workers=1)
    finished = time.perf_counter()
    times.decode = decoded - started
    times.thumbnail = thumbnailed - decoded
    times.variants = finished - thumbnailed
    times.total = finished - started
    timer.split(times)
    rendered = [(r.name, r.format, r.width, r.height, r.data) for r in outputs]
    return [(thumb.name, thumb.format, thumb.width, thumb.height, thumb.data), *rendered]


def run_naive(data: bytes, avif_speed: int, times: Times) -> list[Rendered]:
    """The same encoders at the same settings, with none of our shortcuts: the whole image
    decoded, every size resized from the full original with LANCZOS, WebP at Pillow's default
    method (4) whatever the alpha. Its outputs are the "full-decode LANCZOS reference" our
    variants are held to (detail), and its time is what the shortcuts save."""
    timer = CallTimer()
    started = time.perf_counter()
    with Image.open(io.BytesIO(data)) as opened:
        opened.load()
        img = ImageOps.exif_transpose(opened)
    if img.mode not in ("RGB", "RGBA"):
        img = img.convert("RGBA" if "A" in img.getbands() else "RGB")
    decoded = time.perf_counter()
    thumb = ImageOps.fit(img, (THUMBNAIL_SIZE, THUMBNAIL_SIZE), Image.Resampling.LANCZOS)
    thumb_data = _save(thumb, "WEBP", quality=THUMBNAIL_QUALITY)
    thumbnailed = time.perf_counter()
    outputs: list[Rendered] = [("thumbnail", "webp", thumb.width, thumb.height, thumb_data)]
    with timer.watch():
        for spec in imaging.VARIANT_SPECS:
            if img.width > spec.width:
                height = max(1, round(img.height * spec.width / img.width))
                resized = img.resize((spec.width, height), Image.Resampling.LANCZOS)
            else:
                resized = img
            webp = _save(resized, "WEBP", quality=spec.webp_quality, method=4)
            outputs.append((spec.name, "webp", resized.width, resized.height, webp))
            avif = _save(
                resized, "AVIF", quality=spec.avif_quality, speed=avif_speed, max_threads=1
            )
            outputs.append((spec.name, "avif", resized.width, resized.height, avif))
    finished = time.perf_counter()
    times.decode = decoded - started
    times.thumbnail = thumbnailed - decoded
    times.variants = finished - thumbnailed
    times.total = finished - started
    timer.split(times)
    return outputs


def _save(img: Image.Image, fmt: str, **options: Any) -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, fmt, **options)
    return buffer.getvalue()


def _status_mib(field_name: str) -> float | None:
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith(f"{field_name}:"):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:
        return None
    return None


def peak_rss_mib() -> float:
    peak = _status_mib("VmHWM")
    # ru_maxrss is in KiB on Linux (bytes on macOS, where /proc is missing anyway).
    return peak if peak is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mib() -> float:
    current = _status_mib("VmRSS")
    return current if current is not None else peak_rss_mib()


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure(job: str, photo: Path, outdir: Path, avif_speed: int) -> Result:
    data = photo.read_bytes()
    Image.init()  # plugin registration is start-up work, not the job's
    times = Times()
    rss_before = current_rss_mib()
    cpu_before = _cpu_seconds()
    rendered = (run_ours if job == "ours" else run_naive)(data, avif_speed, times)
    cpu = _cpu_seconds() - cpu_before
    peak = peak_rss_mib()
    outdir.mkdir(parents=True, exist_ok=True)
    outputs = []
    for name, fmt, width, height, encoded in rendered:
        path = outdir / f"{name}.{fmt}"
        path.write_bytes(encoded)
        outputs.append(Output(name, fmt, width, height, len(encoded), str(path)))
    return Result(
        job=job,
        photo=photo.name,
        avif_speed=avif_speed,
        times=times,
        cpu_seconds=cpu,
        rss_before_mib=rss_before,
        rss_peak_mib=peak,
        outputs=outputs,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.jobs")
    parser.add_argument("job", choices=JOBS)
    parser.add_argument("photo", type=Path)
    parser.add_argument("outdir", type=Path)
    parser.add_argument("--avif-speed", type=int, required=True)
    parser.add_argument("--cpu", type=int, default=None, help="pin to this CPU (default: one)")
    args = parser.parse_args(argv)
    pin_to_one_cpu(args.cpu)
    result = measure(args.job, args.photo, args.outdir, args.avif_speed)
    json.dump(asdict(result), sys.stdout)
    sys.stdout.write("\n")
    return 0


def pin_to_one_cpu(cpu: int | None) -> None:
    if not hasattr(os, "sched_setaffinity"):
        return  # not Linux: thread counts then follow the machine
    allowed = sorted(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu if cpu is not None else allowed[-1]})


if __name__ == "__main__":
    raise SystemExit(main())
