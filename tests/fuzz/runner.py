"""Running untrusted bytes through the pipeline's three imaging jobs, each in a forked process of
its own, as the deployed functions would: Ingest's prepare, then (only for what Ingest accepts)
the Variants and Metadata jobs.

Each job gets the codec its function builds in production (imagepipe.pipeline.deps), under the
environment template.yaml gives that function and its MemorySize as Lambda reports it, so the
pixel, frame and memory limits are the deployed ones. The verdict of one job:

- ok / refused: a result, or the domain's InvalidImage (any code): both are clean;
- crash: any other exception, or the process killed by a signal;
- timeout: more than 10 s of CPU (user and system, every thread of the job), or three times
  that on the wall clock (a job that hangs without computing);
- memory: a peak resident set (VmHWM) above the function's MemorySize.

The time limit is on CPU rather than the wall clock so that the verdict does not depend on what
else the machine runs (on a shared 2-core machine a 3 s job once took over 10 s of wall
clock); RLIMIT_CPU stops a job that computes for ever.

Resident memory is what Lambda limits (the sandbox's cgroup), and the peak is read in the child
itself, so the forked parent's pages count too, as a Lambda runtime's own would. It is the
kernel's VmHWM, not ru_maxrss, which survives exec: a fuzzer started by a big process (pytest)
would otherwise inherit that process's peak. The address
space is also limited, but only as a safety net at twice the cap: the AVIF and HEIF codecs
reserve thread stacks and malloc arenas they never touch, so RLIMIT_AS at the cap itself would
fail images that fit; the net makes a runaway allocation fail in its own process (a MemoryError,
a crash) instead of waking the machine's OOM killer."""

from __future__ import annotations

import math
import multiprocessing
import os
import resource
import signal
import time
import traceback
import warnings
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from multiprocessing.connection import Connection, wait
from typing import Any

from imagepipe.domain.errors import InvalidImage
from imagepipe.pipeline import deps
from imagepipe_local.template import Template

# Job name -> (the function that runs it, its wiring in deps, the codec method).
JOBS: dict[str, tuple[str, str, str]] = {
    "prepare": ("IngestFunction", "ingest_deps", "prepare"),
    "variants": ("VariantsFunction", "variants_deps", "variants"),
    "analyze": ("MetadataFunction", "metadata_deps", "analyze"),
}
FAILURES = frozenset({"crash", "timeout", "memory"})
_WALL_FACTOR = 3
_MIB = 1 << 20
_FORK = multiprocessing.get_context("fork")


@dataclass(frozen=True)
class Function:
    logical_id: str
    memory_mb: int
    environment: dict[str, str]


@dataclass(frozen=True)
class Verdict:
    case: int
    job: str
    outcome: str  # ok, refused, crash, timeout, memory
    detail: str  # the refusal's code, the exception, or the peak
    peak_mib: float
    seconds: float  # CPU seconds of the job

    @property
    def failed(self) -> bool:
        return self.outcome in FAILURES


@cache
def functions() -> dict[str, Function]:
    """The three processing functions as template.yaml defines them."""
    template = Template.load()
    globals_ = template.data.get("Globals", {}).get("Function", {})
    found = {}
    for job, (logical_id, _, _) in JOBS.items():
        props = template.properties(logical_id)
        memory = int(template.resolve(props.get("MemorySize", globals_.get("MemorySize"))))
        env = template.function_environment(logical_id)
        # What Lambda adds to every function's environment.
        env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] = str(memory)
        found[job] = Function(logical_id, memory, env)
    return found


def run(
    cases: Iterable[tuple[int, bytes]], *, workers: int = 2, timeout: float = 10.0
) -> Iterator[Verdict]:
    """Every case through prepare and, when Ingest accepts it, variants and analyze; at most
    `workers` jobs at once, `timeout` CPU seconds each. Cases are taken from the iterable as
    workers free up (the parent stays small: its pages count in every child's resident set).
    Yields each job's verdict as it ends."""
    upcoming = iter(cases)
    pending: deque[tuple[int, str, bytes]] = deque()
    running: dict[int, tuple[int, str, bytes, Any, Connection, float]] = {}
    while True:
        while len(running) < workers:
            if not pending:
                case = next(upcoming, None)
                if case is None:
                    break
                pending.append((case[0], "prepare", case[1]))
            number, job, data = pending.popleft()
            reader, writer = _FORK.Pipe(duplex=False)
            process = _FORK.Process(target=_child, args=(writer, data, job, timeout), daemon=True)
            process.start()
            writer.close()
            running[process.sentinel] = (number, job, data, process, reader, time.monotonic())
        if not running:
            return
        wall = _WALL_FACTOR * timeout
        deadline = min(entry[-1] for entry in running.values()) + wall
        ready = wait(list(running), timeout=max(0.0, deadline - time.monotonic()))
        now = time.monotonic()
        for sentinel in list(running):
            number, job, data, process, reader, started = running[sentinel]
            if sentinel not in ready and now - started < wall:
                continue
            del running[sentinel]
            hung = sentinel not in ready
            verdict = _collect(number, job, process, reader, now - started, hung, timeout)
            if job == "prepare" and verdict.outcome == "ok":
                # Only what Ingest accepts reaches the workers.
                pending.extend(((number, "variants", data), (number, "analyze", data)))
            yield verdict


def _collect(
    case: int,
    job: str,
    process: Any,
    reader: Connection,
    elapsed: float,
    hung: bool,
    timeout: float,
) -> Verdict:
    if hung:
        process.kill()
        process.join()
        reader.close()
        detail = f"still running after {elapsed:.0f} s of wall clock"
        return Verdict(case, job, "timeout", detail, 0.0, elapsed)
    # The sentinel is ready once the child's files are closed, a moment before it can be
    # reaped: join, never is_alive(), tells whether it has ended.
    process.join()
    try:
        outcome, detail, peak_kib, cpu_seconds = (
            reader.recv() if reader.poll() else (None, "", 0, 0.0)
        )
    except EOFError:
        outcome, detail, peak_kib, cpu_seconds = None, "", 0, 0.0
    reader.close()
    if outcome is None:
        if process.exitcode == -signal.SIGXCPU:
            return Verdict(case, job, "timeout", f"over {timeout:.0f} s of CPU", 0.0, timeout)
        detail = f"killed by signal {-process.exitcode}" if process.exitcode else "no answer"
        return Verdict(case, job, "crash", detail, 0.0, elapsed)
    cpu = float(cpu_seconds)
    if outcome != "crash" and cpu > timeout:
        outcome, detail = "timeout", f"{cpu:.1f} s of CPU, more than {timeout:.0f}"
    return Verdict(case, job, outcome, detail, peak_kib / 1024, cpu)


def _child(writer: Connection, data: bytes, job: str, timeout: float) -> None:
    function = functions()[job]
    cap = function.memory_mb * _MIB
    # A safety net only (see the module's docstring); the verdict is on resident memory.
    address_space = _status_kib("VmSize") * 1024
    resource.setrlimit(resource.RLIMIT_AS, (2 * cap + address_space, resource.RLIM_INFINITY))
    # SIGXCPU a second past the limit: a job computing for ever ends as a timeout.
    spent = _cpu()
    resource.setrlimit(
        resource.RLIMIT_CPU, (math.ceil(spent + timeout + 1), resource.RLIM_INFINITY)
    )
    os.environ.update(function.environment)
    # Pillow warns about big images (the limits decide those) and broken EXIF (read as absent):
    # expected on fuzzed input, and Lambda would only log them.
    warnings.simplefilter("ignore")
    _, wiring, method = JOBS[job]
    codec = getattr(deps, wiring)().codec
    try:
        getattr(codec, method)(data)
        outcome, detail = "ok", ""
    except InvalidImage as error:
        outcome, detail = "refused", str(error.code)
    except BaseException as error:  # anything else is what the fuzzer looks for
        outcome = "crash"
        detail = "".join(traceback.format_exception(error))[-4000:]
    peak_kib = _status_kib("VmHWM")
    if outcome != "crash" and peak_kib * 1024 > cap:
        outcome, detail = "memory", f"peak {peak_kib // 1024} MiB > {function.memory_mb} MiB"
    writer.send((outcome, detail, peak_kib, _cpu() - spent))
    writer.close()


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _status_kib(field: str) -> int:
    """A size from /proc/self/status (VmHWM: the peak resident set; VmSize: the address space)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
    return 0
