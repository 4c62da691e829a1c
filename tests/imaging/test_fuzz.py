"""The fuzzer in `make test`: a bounded smoke run (fixed seed) and every saved regression case,
both through `python -m tests.fuzz` itself, in a process of their own. Each job there runs in a
fork of that process, and a fork counts its parent's pages in its resident set: a fork of this
test process (the session's decoded 12 MP photos included) would be measured against the
function's memory with pixels it never decoded."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.fuzz.__main__ import REGRESSIONS

ROOT = Path(__file__).resolve().parents[2]
SMOKE_CASES = 150
SMOKE_SEED = 7
# Speed belongs in `make bench` and `make fuzz` (10 s a job): here the timeout only catches a
# job that never ends, whatever else the machine is running.
SMOKE_TIMEOUT = "60"


def _fuzz(*args: str) -> subprocess.CompletedProcess[str]:
    # The test's own interpreter and module: no outside input.
    return subprocess.run(  # noqa: S603
        [sys.executable, "-m", "tests.fuzz", "--no-save", *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
        timeout=900,
    )


def test_a_smoke_run_of_the_fuzzer_finds_nothing() -> None:
    # Given the seeds (real photos in every allowed format, the specials) and a fixed seed
    # When the first cases (every seed as it is, then mutations) go through prepare, variants
    # and analyze, each job in its own process with the function's memory as its limit
    done = _fuzz("--cases", str(SMOKE_CASES), "--seed", str(SMOKE_SEED), "--timeout", SMOKE_TIMEOUT)
    # Then no job crashed, hung or went over its function's memory
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{SMOKE_CASES} cases (seed {SMOKE_SEED})" in done.stdout
    assert ", 0 failed," in done.stdout


def test_every_saved_regression_case_passes() -> None:
    # Given the inputs that once failed a fuzz run, kept as they were
    saved = sorted(p.name for p in REGRESSIONS.iterdir() if p.is_file())
    assert saved, "tests/imaging/fuzz_regressions holds the cases of earlier failures"
    # When each goes through the jobs it reaches, as in a fuzz run
    done = _fuzz("--replay", str(REGRESSIONS), "--timeout", SMOKE_TIMEOUT)
    # Then each ends clean: a result or a refusal
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{len(saved)} cases (replay of" in done.stdout
