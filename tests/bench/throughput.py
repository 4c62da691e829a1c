"""Local throughput: 40 distinct 12 MP photos through a fresh `imagepipe local`, against the
machine's ceiling for the same imaging code.

- **Single-job CPU s**: what the imaging of one photo costs, all three functions together:
  Ingest's `codec.prepare` (probe, thumbnail), Variants' `codec.variants` and Metadata's
  `codec.analyze`, with the very codecs the stack builds (`imagepipe.pipeline.deps`, under the
  template's function environment), in a fresh interpreter pinned to one CPU, after a warm-up
  on another photo. user + system CPU seconds (getrusage) of those three calls, the median of
  `repeat` runs per photo, then the mean over SAMPLE photos (half from each source).
- **Ceiling** = cores / single-job CPU s: the images per second the machine could sustain if
  the stack spent nothing but that imaging.
- **Throughput**: a fresh `imagepipe local` (its own process); COUNT distinct photos uploaded
  through the API as a client does (POST /uploads, then the presigned POST to S3) by CLIENTS
  concurrent clients; done when every image is `completed` (GET /images/{id} of the last one
  sent every POLL_SECONDS, then a listing for the others), after one more photo sent first and
  unmeasured (the functions' cold starts are not throughput). Wall: from the first
  POST /uploads to the last image's `processedAt`. The stack's CPU: utime + stime (+ reaped
  children) from /proc/<pid>/stat of it and its children (moto's server), from just before the
  uploads to the last completion.

    .venv/bin/python -m tests.bench.throughput           prints the Markdown section"""

from __future__ import annotations

import argparse
import concurrent.futures
import hashlib
import json
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from tests.bench import ROOT
from tests.bench.runner import Check

SOURCES = ("sunset-12mp.jpg", "dragonfly-13mp.jpg")
COUNT = 40
CLIENTS = 4
SAMPLE = 4  # photos whose single-job CPU is measured (half from each source)
POLL_SECONDS = 1.0
TIMEOUT_SECONDS = 600.0
TARGET = 0.80
MEGAPIXELS = 12.0
QUALITY = 90
HEADING = "## Local throughput"
_VERSION = 2  # of the derived photos: bump when `derive` changes


# --- the photos ---------------------------------------------------------------------------


def _window(size: tuple[int, int], index: int) -> tuple[int, int, int, int]:
    """A window of the source's aspect ratio, 80 to 98 % of its sides, placed differently for
    each index: a different framing of the same scene."""
    width, height = size
    fraction = 0.80 + 0.02 * ((index * 3) % 10)
    w, h = round(width * fraction), round(height * fraction)
    # Golden-ratio steps spread the windows over the free margin.
    x = round((width - w) * ((index * 0.618034) % 1.0))
    y = round((height - h) * ((index * 0.381966 + 0.5) % 1.0))
    return x, y, x + w, y + h


def derive(source: Path, target: Path, index: int) -> None:
    """One distinct, real-looking photo: a window of `source` (80-98 % of its sides) resized to
    12.0 MP, flipped one of four ways, its exposure nudged by up to +-6 %, re-encoded as a
    quality-90 JPEG."""
    from PIL import Image, ImageEnhance, ImageOps

    with Image.open(source) as opened:
        img = opened.convert("RGB")
    box = _window(img.size, index)
    aspect = (box[2] - box[0]) / (box[3] - box[1])
    height = round((MEGAPIXELS * 1_000_000 / aspect) ** 0.5)
    img = img.resize((round(height * aspect), height), Image.Resampling.LANCZOS, box=box)
    flips = index % 4
    if flips & 1:
        img = ImageOps.mirror(img)
    if flips & 2:
        img = ImageOps.flip(img)
    step = index // 4  # 0..9 for 40 photos
    img = ImageEnhance.Brightness(img).enhance(0.94 + 0.012 * step)
    img = ImageEnhance.Contrast(img).enhance(1.04 - 0.008 * step)
    partial = target.with_suffix(".partial")
    img.save(partial, "JPEG", quality=QUALITY)
    partial.replace(target)


def _cache_dir(sources: Sequence[Path]) -> Path:
    key = hashlib.sha256(f"{_VERSION}".encode())
    for path in sources:
        key.update(f"{path.name}:{path.stat().st_size}".encode())
    return Path(tempfile.gettempdir()) / f"imagepipe-throughput-{key.hexdigest()[:12]}"


def photos(count: int = COUNT, progress: Callable[[str], None] = print) -> list[Path]:
    """`count` distinct 12 MP JPEGs, made once and kept in a temporary directory."""
    from tests.photos import photo

    sources = [photo(name) for name in SOURCES]
    directory = _cache_dir(sources)
    directory.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    for index in range(count):
        source = sources[index % len(sources)]
        path = directory / f"{index:02d}-{source.stem}.jpg"
        if not path.exists():
            if index == 0 or not paths:
                progress(f"throughput: making {count} distinct 12 MP photos in {directory}")
            derive(source, path, index)
        paths.append(path)
    return paths


def distinct(paths: Sequence[Path]) -> tuple[int, int]:
    """(distinct SHA-256s, distinct pHashes) among the photos."""
    sys.path.insert(0, str(ROOT / "functions"))
    from PIL import Image

    from imagepipe.imaging.phash import phash

    digests, hashes = set(), set()
    for path in paths:
        digests.add(hashlib.sha256(path.read_bytes()).hexdigest())
        with Image.open(path) as img:
            img.draft("RGB", (img.width // 8, img.height // 8))
            hashes.add(phash(img.convert("RGB")))
    return len(digests), len(hashes)


# --- the single job: one interpreter, one CPU ----------------------------------------------


def _stack_codecs() -> tuple[Any, Any, Any]:
    """Ingest's, Variants' and Metadata's codecs as the local stack builds them: pipeline deps
    under the environment the stack gives its functions."""
    from imagepipe_local.invoke import FunctionRunner
    from imagepipe_local.template import Template

    env = FunctionRunner(Template.load()).process_environment()
    os.environ.update(env)
    for name, value in _FAKE_AWS.items():
        os.environ.setdefault(name, value)
    from imagepipe.pipeline.deps import ingest_deps, metadata_deps, variants_deps

    return ingest_deps().codec, variants_deps().codec, metadata_deps().codec


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _image_once(codecs: Any, path: Path) -> None:
    """What the three functions' imaging does with one photo: Ingest's prepare, Variants'
    variants, Metadata's analyze, each reading the file as its function would."""
    ingest, variants, metadata = codecs
    with path.open("rb") as file:
        ingest.prepare(file)
    with path.open("rb") as file:
        variants.variants(file)
    with path.open("rb") as file:
        metadata.analyze(file)


def single_job(paths: Sequence[Path], repeat: int) -> list[float]:
    """Per photo, the median CPU seconds of prepare + variants + analyze (see the docstring)."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[-1]})
    codecs = _stack_codecs()

    def job(path: Path) -> float:
        started = _cpu()
        _image_once(codecs, path)
        return _cpu() - started

    job(paths[-1])  # warm-up: imports, plugins, encoder libraries
    return [statistics.median(job(path) for _ in range(repeat)) for path in paths[:-1]]


def imaging_alone(paths: Sequence[Path], cpu: int) -> dict[str, float]:
    """One of `cores` processes of imaging_alone_rate(): pinned to `cpu`, warmed up on the
    last photo, "ready" on stdout, then on "go" from stdin the whole job on the others."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {cpu})
    codecs = _stack_codecs()

    def job(path: Path) -> None:
        _image_once(codecs, path)

    job(paths[-1])
    print("ready", flush=True)
    sys.stdin.readline()
    started = time.monotonic()
    for path in paths[:-1]:
        job(path)
    return {"started": started, "ended": time.monotonic(), "photos": len(paths) - 1}


def imaging_alone_rate(paths: Sequence[Path], warm_up: Path, cores: int) -> float:
    """Images per second of the imaging alone (the single job, nothing else), one process per
    core over the same photos, started together: the ceiling as this machine gives it at this
    moment, whatever else runs on it."""
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else [0]
    command = [sys.executable, "-m", "tests.bench.throughput", "--imaging-alone"]
    children = []
    for n in range(cores):
        share = [*map(str, paths[n::cores]), str(warm_up)]
        children.append(
            subprocess.Popen(  # noqa: S603 - our own module, our own paths
                [*command, str(cpus[n % len(cpus)]), *share],
                cwd=ROOT,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                env=_env(),
            )
        )
    for child in children:
        assert child.stdout is not None
        if child.stdout.readline().strip() != "ready":
            raise RuntimeError("an imaging-alone process failed to start")
    outputs = [child.communicate("go\n")[0] for child in children]
    if any(child.returncode != 0 for child in children):
        raise RuntimeError("an imaging-alone process failed")
    results = [json.loads(out.strip().splitlines()[-1]) for out in outputs]
    wall = max(float(r["ended"]) for r in results) - min(float(r["started"]) for r in results)
    return sum(int(r["photos"]) for r in results) / wall


def measure_single_job(paths: Sequence[Path], repeat: int) -> list[float]:
    """single_job() in a fresh interpreter (`python -m tests.bench.throughput --single-job`)."""
    command = [sys.executable, "-m", "tests.bench.throughput", "--single-job", str(repeat)]
    completed = subprocess.run(  # noqa: S603 - our own module, our own paths
        [*command, *map(str, paths)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        env=_env(),
    )
    if completed.returncode != 0:
        raise RuntimeError(f"single-job measurement failed:\n{completed.stderr}")
    values: list[float] = json.loads(completed.stdout.strip().splitlines()[-1])
    return values


# --- the stack ------------------------------------------------------------------------------

_FAKE_AWS = {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    return {**env, "PYTHONPATH": str(ROOT)}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def process_cpu(pid: int) -> float:
    """utime + stime + cutime + cstime of a process, in seconds (Linux)."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    ticks = sum(int(value) for value in fields[11:15])  # fields 14-17 of proc(5)
    return ticks / os.sysconf("SC_CLK_TCK")


def tree_cpu(pid: int) -> float:
    """process_cpu of `pid` and of its living descendants (a stack may run moto apart)."""
    total = process_cpu(pid)
    for child in _children(pid):
        with suppress(FileNotFoundError):
            total += tree_cpu(child)
    return total


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except (FileNotFoundError, ValueError):
            continue
    return found


@dataclass(frozen=True)
class Stack:
    pid: int
    api: str


@contextmanager
def local_stack(log: Path, *extra: str) -> Iterator[Stack]:
    """A fresh `imagepipe local` on free ports, in its own process, until the block ends."""
    api_port, aws_port = _free_port(), _free_port()
    command = [sys.executable, "-m", "imagepipe_local.cli", "local"]
    command += ["--api-port", str(api_port), "--aws-port", str(aws_port), *extra]
    import requests

    with log.open("w") as output:
        process = subprocess.Popen(  # noqa: S603 - our own command line
            command, cwd=ROOT, env=_env(), stdout=output, stderr=subprocess.STDOUT
        )
    api = f"http://127.0.0.1:{api_port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the local stack exited:\n{log.read_text()}")
            try:
                if requests.get(f"{api}/", timeout=1).status_code == 200:
                    break
            except requests.RequestException:  # not listening yet, or too busy to answer
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the local stack did not start:\n{log.read_text()}")
            time.sleep(0.2)
        yield Stack(process.pid, api)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass(frozen=True)
class StackRun:
    images: int
    completed: int
    wall_seconds: float
    stack_cpu_seconds: float
    children_cpu_seconds: float  # of it, the stack's child processes (moto's server)
    idle_cpu_per_second: float  # the stack's CPU rate with nothing to do, before the uploads
    client_cpu_seconds: float  # this process (uploading and polling), for the record

    @property
    def images_per_second(self) -> float:
        return self.completed / self.wall_seconds

    @property
    def cpu_per_image(self) -> float:
        return self.stack_cpu_seconds / max(1, self.completed)


def _upload_share(api_url: str, session: str, paths: Sequence[Path]) -> list[tuple[float, str]]:
    """One client: presign its files in batches of 10, then POST each to S3. (when sent,
    imageId) of each."""
    from tqdm import tqdm

    from imagepipe_local.client import Api
    from imagepipe_local.upload import BATCH, Outcome, _describe, presign, send

    api = Api(api_url)
    outcomes = [Outcome(path=p, spec=_describe(p)) for p in paths]
    sent = []
    for start in range(0, len(outcomes), BATCH):
        batch = outcomes[start : start + BATCH]
        presign(api, session, batch)
        with tqdm(disable=True) as bar:
            for outcome in batch:
                if outcome.kind != "new":
                    raise RuntimeError(f"{outcome.path.name}: {outcome.label} {outcome.message}")
                send(outcome, bar)
                if outcome.kind != "new":
                    raise RuntimeError(f"{outcome.path.name}: {outcome.code} {outcome.message}")
                sent.append((time.monotonic(), outcome.image_id))
    return sent


def _wait(api_url: str, session: str, image_ids: Sequence[str], deadline: float) -> None:
    """Until every image is completed or failed. Cheap for the stack (each GET /images/{id}
    signs the image's CDN URLs; a session listing every 0.5 s cost it ~0.2 CPU s per image): a
    GET /images/{id} every POLL_SECONDS of the last image sent, which finishes about last, then
    one listing to see which of the others are not done yet, and so on with those."""
    from imagepipe_local.client import Api, get_image

    api = Api(api_url)
    pending = list(image_ids)
    while pending and time.monotonic() < deadline:
        if get_image(api, pending[-1]).get("status") not in _DONE:
            time.sleep(POLL_SECONDS)
            continue
        pending.pop()
        done = {i.get("imageId") for i in _listing(api_url, session) if i.get("status") in _DONE}
        pending = [image_id for image_id in pending if image_id not in done]


_DONE = ("completed", "failed")


def _listing(api_url: str, session: str) -> list[dict[str, Any]]:
    from imagepipe_local.client import Api, session_images

    return list(session_images(Api(api_url), session))


def _timestamp(value: Any) -> float | None:
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def run_stack(
    paths: Sequence[Path],
    warm_up: Path,
    workdir: Path,
    progress: Callable[[str], None],
    clients: int = CLIENTS,
) -> StackRun:
    """`warm_up` goes through first, unmeasured: the functions' cold starts (imports, clients)
    are not throughput."""
    log = workdir / "imagepipe-local.log"
    with local_stack(log) as stack:
        time.sleep(1.0)  # let the start-up settle
        idle_from, idle_cpu_from = time.monotonic(), tree_cpu(stack.pid)
        time.sleep(2.0)
        idle_rate = (tree_cpu(stack.pid) - idle_cpu_from) / (time.monotonic() - idle_from)
        session = f"bench-{uuid.uuid4().hex[:8]}"
        warm = _upload_share(stack.api, f"{session}-warm-up", [warm_up])
        deadline = time.monotonic() + TIMEOUT_SECONDS
        _wait(stack.api, f"{session}-warm-up", [image_id for _, image_id in warm], deadline)
        shares = [list(paths[n::clients]) for n in range(clients)]
        client_cpu = _cpu()
        cpu_from, own_from = tree_cpu(stack.pid), process_cpu(stack.pid)
        started_at, started = time.time(), time.monotonic()
        progress(f"throughput: {len(paths)} uploads by {clients} clients to {stack.api}")
        sent: list[tuple[float, str]] = []
        with concurrent.futures.ThreadPoolExecutor(clients) as pool:
            for done in [pool.submit(_upload_share, stack.api, session, s) for s in shares]:
                sent += done.result()
        progress(f"throughput: uploaded in {time.monotonic() - started:.1f} s; processing")
        in_order = [image_id for _, image_id in sorted(sent)]
        _wait(stack.api, session, in_order, started + TIMEOUT_SECONDS)
        observed = time.monotonic() - started
        stack_cpu = tree_cpu(stack.pid) - cpu_from
        own_cpu = process_cpu(stack.pid) - own_from
        client_cpu = _cpu() - client_cpu
        listing = _listing(stack.api, session)
    completed = [i for i in listing if i.get("status") == "completed"]
    if len(completed) < len(paths):
        statuses = sorted(str(i.get("status")) for i in listing)
        raise RuntimeError(f"{len(completed)} of {len(paths)} completed ({statuses}); see {log}")
    ends = [_timestamp(i.get("processedAt")) for i in completed]
    last = max((end for end in ends if end is not None), default=None)
    # processedAt is the stack's own clock (this machine's): finer than the polling.
    wall = min(observed, last - started_at) if last is not None else observed
    return StackRun(
        len(paths), len(completed), wall, stack_cpu, stack_cpu - own_cpu, idle_rate, client_cpu
    )


# --- the benchmark --------------------------------------------------------------------------


@dataclass(frozen=True)
class ThroughputSummary:
    photos: int
    distinct_sha256: int
    distinct_phash: int
    megapixels: float
    photo_mib: float  # mean file size
    cores: int
    clients: int
    single_job: list[float]  # CPU s per sample photo
    runs: list[StackRun]
    alone: list[float]  # images/s of the imaging alone on every core, right after each run
    load_before: tuple[float, float, float]
    load_after: tuple[float, float, float]

    @property
    def single_job_cpu(self) -> float:
        return statistics.fmean(self.single_job)

    @property
    def ceiling(self) -> float:
        return self.cores / self.single_job_cpu

    @property
    def run(self) -> StackRun:
        """The run of median throughput."""
        ordered = sorted(self.runs, key=lambda r: r.images_per_second)
        return ordered[(len(ordered) - 1) // 2]

    @property
    def ratio(self) -> float:
        return self.run.images_per_second / self.ceiling

    @property
    def ratio_to_alone(self) -> float:
        """The median run's throughput over the imaging alone measured right after it."""
        return self.run.images_per_second / self.alone[self.runs.index(self.run)]


def _cores() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def bench_throughput(
    repeat: int, progress: Callable[[str], None], *, runs: int = 1, count: int = COUNT
) -> ThroughputSummary:
    """`repeat`: runs of the single job per sample photo (median taken); `runs`: stack runs
    (each a fresh stack; the run of median throughput is reported)."""
    from PIL import Image

    paths = photos(count + 1, progress)  # the last one warms the stack up
    sha, phashes = distinct(paths)
    with Image.open(paths[0]) as first:
        megapixels = first.width * first.height / 1e6
    size_mib = statistics.fmean(p.stat().st_size for p in paths) / (1 << 20)
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="imagepipe-throughput-") as tmp:
        # Private copies: the cache may be refreshed by another run meanwhile.
        copies = []
        for path in paths:
            copy = Path(tmp) / "photos" / path.name
            copy.parent.mkdir(exist_ok=True)
            shutil.copyfile(path, copy)
            copies.append(copy)
        sample = [copies[i] for i in range(min(SAMPLE, count))] + [copies[-1]]
        progress(f"throughput: single-job CPU on {len(sample) - 1} photos, {repeat} run(s) each")
        single = measure_single_job(sample, repeat)
        progress(f"throughput: single job {statistics.fmean(single):.3f} CPU s")
        stack_runs = []
        alone: list[float] = []
        for attempt in range(runs):
            workdir = Path(tmp) / f"run{attempt}"
            workdir.mkdir()
            done = run_stack(copies[:-1], copies[-1], workdir, progress)
            progress(
                f"throughput: run {attempt + 1}/{runs}: {done.wall_seconds:.1f} s, "
                f"{done.images_per_second:.2f} images/s, {done.cpu_per_image:.2f} CPU s/image"
            )
            stack_runs.append(done)
            progress("throughput: the imaging alone, one process per core, same photos")
            alone.append(imaging_alone_rate(copies[:-1], copies[-1], _cores()))
            progress(f"throughput: imaging alone {alone[-1]:.2f} images/s")
    return ThroughputSummary(
        photos=count,
        distinct_sha256=sha,
        distinct_phash=phashes,
        megapixels=megapixels,
        photo_mib=size_mib,
        cores=_cores(),
        clients=CLIENTS,
        single_job=single,
        runs=stack_runs,
        alone=alone,
        load_before=load_before,
        load_after=os.getloadavg(),
    )


def check_throughput(summary: ThroughputSummary) -> list[Check]:
    return [
        Check(
            f"local throughput >= {TARGET:.0%} of cores / single-job CPU s",
            f"{summary.photos} x {summary.megapixels:.0f} MP",
            summary.ratio >= TARGET,
            f"{summary.ratio:.0%} ({summary.run.images_per_second:.2f} of "
            f"{summary.ceiling:.2f} images/s)",
        )
    ]


def _load(values: Sequence[float]) -> str:
    return " / ".join(f"{v:.2f}" for v in values)


def render_throughput(summary: ThroughputSummary, elapsed: float) -> str:
    run = summary.run
    overhead = run.cpu_per_image - summary.single_job_cpu
    (check,) = check_throughput(summary)
    client = run.client_cpu_seconds / max(1, run.completed)
    children = run.children_cpu_seconds / max(1, run.completed)
    busy = run.stack_cpu_seconds / run.wall_seconds
    alone = summary.alone[summary.runs.index(run)]
    to_alone = summary.ratio_to_alone
    share = summary.single_job_cpu / run.cpu_per_image
    load = f"{_load(summary.load_before)} → {_load(summary.load_after)}"
    method = (
        f"`python -m tests.bench.throughput` (run time {elapsed:.0f} s). {summary.photos} "
        f"distinct {summary.megapixels:.1f} MP JPEGs (mean {summary.photo_mib:.1f} MiB), "
        f"windows of {' and '.join(SOURCES)} flipped and re-exposed, uploaded to a fresh "
        f"`imagepipe local` by {summary.clients} concurrent clients through the API "
        "(POST /uploads, presigned POST to S3), until every image is `completed` (GET /images/{id} "
        f"of the last one sent every {POLL_SECONDS:g} s, then a listing for the others); one "
        "more photo went through first, unmeasured, so that the functions' cold starts (item 5 "
        f"of the issue) are not counted. All {summary.distinct_sha256} photos have distinct "
        f"SHA-256s, {summary.distinct_phash} distinct pHashes. "
        "**Single job**: Ingest's `prepare`, Variants' `variants` and Metadata's `analyze` with "
        "the stack's own codecs, one pinned CPU, a fresh interpreter: user+system CPU s, the "
        f"mean over {len(summary.single_job)} photos. **Ceiling** = {summary.cores} cores / "
        "single-job CPU s. Stack CPU: utime+stime of its process tree (/proc), uploads to last "
        "completion. Wall: first POST /uploads to the last `processedAt`. **Imaging alone**: the "
        "single job over the same photos, a process per core, started together right after the "
        "stack's run: what the machine gives that imaging at that moment, so that the ratio to "
        "it holds whatever else loads the machine (the ceiling assumes an idle one)."
    )
    lines = [
        HEADING,
        "",
        method,
        "",
        "| Figure | Value |",
        "|---|---|",
        f"| Single-job CPU s (imaging of one photo) | {summary.single_job_cpu:.3f} |",
        f"| Ceiling ({summary.cores} cores) images/s | {summary.ceiling:.2f} |",
        f"| Wall s | {run.wall_seconds:.1f} |",
        f"| Throughput images/s | {run.images_per_second:.2f} |",
        f"| **Throughput / ceiling** | **{summary.ratio:.0%}** |",
        f"| Imaging alone (a process per core, same photos, just after) images/s | {alone:.2f} |",
        f"| Throughput / imaging alone (same load; favours the stack's threads) | {to_alone:.0%} |",
        f"| Stack CPU s per image | {run.cpu_per_image:.3f} |",
        f"| of which imaging (single job) | {summary.single_job_cpu:.3f} |",
        f"| of which the rest (HTTP, moto, queues, hashing...) | {overhead:.3f} |",
        f"| of the stack's CPU, its child processes' (moto's server) | {children:.3f} |",
        f"| Imaging share of the stack's CPU (the best ratio it can reach) | {share:.0%} |",
        f"| Cores the stack kept busy (stack CPU s / wall s) | {busy:.2f} |",
        f"| Stack CPU with nothing to do, CPU s per s | {run.idle_cpu_per_second:.3f} |",
        f"| Bench client CPU s per image (uploading, polling) | {client:.3f} |",
        f"| Load average before / after (1, 5, 15 min) | {load} |",
    ]
    if len(summary.runs) > 1:
        each = ", ".join(f"{r.images_per_second:.2f}" for r in summary.runs)
        lines.append(f"| images/s of each run (median reported) | {each} |")
    verdict = "PASS" if check.passed else "FAIL"
    lines += ["", f"**{verdict}**: {check.target}: {check.measured}.", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.throughput")
    parser.add_argument("--repeat", type=int, default=3, help="single-job runs per photo")
    parser.add_argument("--runs", type=int, default=1, help="stack runs (median reported)")
    parser.add_argument("--count", type=int, default=COUNT, help="photos uploaded")
    parser.add_argument("--json", type=Path, default=None, help="also write the summary here")
    parser.add_argument("--single-job", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--imaging-alone", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("paths", nargs="*", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.single_job is not None:
        print(json.dumps(single_job(args.paths, args.single_job)))
        return 0
    if args.imaging_alone is not None:
        print(json.dumps(imaging_alone(args.paths, args.imaging_alone)))
        return 0

    def progress(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    started = time.perf_counter()
    summary = bench_throughput(args.repeat, progress, runs=args.runs, count=args.count)
    if args.json is not None:
        args.json.write_text(json.dumps(asdict(summary), indent=2), encoding="utf-8")
    print(render_throughput(summary, time.perf_counter() - started))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
