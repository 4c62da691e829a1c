"""`make fuzz`: seeded mutations of real images through the pipeline's imaging jobs.

    python -m tests.fuzz [--cases 2000] [--seed 12] [--workers 2] [--timeout 10]
    python -m tests.fuzz --only 1234 --seed 12     one case again, by its number
    python -m tests.fuzz --replay DIR              every file in DIR, unmutated

Case i < the number of seeds is seed i as it is (the real photos, then the specials: SVG, PDF,
polyglots, bombs); every later case is random.Random(f"{seed}:{i}") applied to a seed, so any
case is reproducible from (seed, i) alone. A failing input is saved under
tests/imaging/fuzz_regressions/ when it is at most 64 KiB (tests/imaging/test_fuzz.py runs every
saved file through the same check); a bigger one is named by its (seed, case) instead.
Exit status 1 when any job crashed, timed out or went over its function's memory."""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from pathlib import Path

from imagepipe import imaging
from imagepipe.imaging.formats import FORMATS
from tests.fuzz.mutate import mutate
from tests.fuzz.runner import JOBS, Verdict, functions, run
from tests.fuzz.seeds import Seed, seeds

REGRESSIONS = Path(__file__).resolve().parents[1] / "imaging" / "fuzz_regressions"
MAX_SAVED = 64 * 1024


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    started = time.monotonic()
    if args.replay:
        files = sorted(p for p in Path(args.replay).iterdir() if p.is_file())
        described = {i: p.name for i, p in enumerate(files)}
        cases: Iterator[tuple[int, bytes]] = ((i, p.read_bytes()) for i, p in enumerate(files))
    else:
        corpus = seeds()
        described = {}
        cases = _cases(corpus, args.seed, args.cases, args.only, described)
    verdicts = []
    for verdict in run(cases, workers=args.workers, timeout=args.timeout):
        verdicts.append(verdict)
        if verdict.failed:
            print(
                f"FAIL case {verdict.case} ({described.get(verdict.case, '')}) {verdict.job}: "
                f"{verdict.outcome} {verdict.detail}",
                file=sys.stderr,
            )
    elapsed = time.monotonic() - started
    _report(verdicts, args, elapsed, described)
    failed = [v for v in verdicts if v.failed]
    if failed and not args.replay and args.save:
        _save(failed, args, described)
    return 1 if failed else 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m tests.fuzz",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--cases", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=10.0, help="CPU seconds per job")
    parser.add_argument("--only", type=int, help="run this case number alone")
    parser.add_argument("--replay", help="run every file of this directory, unmutated")
    parser.add_argument(
        "--no-save",
        dest="save",
        action="store_false",
        help="do not write failing inputs under tests/imaging/fuzz_regressions",
    )
    return parser


def _cases(
    corpus: list[Seed], seed: int, count: int, only: int | None, described: dict[int, str]
) -> Iterator[tuple[int, bytes]]:
    numbers = [only] if only is not None else range(count)
    for number in numbers:
        described[number], data = case(corpus, seed, number)
        yield number, data


def case(corpus: list[Seed], seed: int, number: int) -> tuple[str, bytes]:
    """(description, bytes) of case `number` of a run with `seed`."""
    if number < len(corpus):
        return corpus[number].name, corpus[number].data
    real = sum(1 for s in corpus if s.name.startswith("photo"))
    return mutate(corpus, random.Random(f"{seed}:{number}"), real=real)


def _report(
    verdicts: list[Verdict], args: argparse.Namespace, elapsed: float, described: dict[int, str]
) -> None:
    by_job: dict[str, list[Verdict]] = defaultdict(list)
    for verdict in verdicts:
        by_job[verdict.job].append(verdict)
    limits = functions()
    print(
        f"{'job':9} {'function':17} {'MiB':>5} {'runs':>6} {'ok':>6} {'refused':>8} "
        f"{'crash':>6} {'timeout':>8} {'memory':>7} {'peak MiB':>9} {'CPU s':>6}"
    )
    for job in JOBS:
        rows = by_job.get(job, [])
        count = Counter(v.outcome for v in rows)
        peak = max((v.peak_mib for v in rows), default=0.0)
        slowest = max((v.seconds for v in rows), default=0.0)
        function = limits[job]
        print(
            f"{job:9} {function.logical_id:17} {function.memory_mb:>5} {len(rows):>6} "
            f"{count['ok']:>6} {count['refused']:>8} {count['crash']:>6} "
            f"{count['timeout']:>8} {count['memory']:>7} {peak:>9.0f} {slowest:>6.1f}"
        )
    for job in JOBS:
        rows = [v for v in verdicts if v.job == job]
        if rows:
            worst = max(rows, key=lambda v: v.seconds)
            hungriest = max(rows, key=lambda v: v.peak_mib)
            print(
                f"{job}: slowest case {worst.case} ({described.get(worst.case, '')}) "
                f"{worst.seconds:.1f} CPU s; most memory case {hungriest.case} "
                f"({described.get(hungriest.case, '')}) {hungriest.peak_mib:.0f} MiB"
            )
    codes = Counter(v.detail for v in verdicts if v.outcome == "refused")
    print("refusals: " + ", ".join(f"{code} {n}" for code, n in codes.most_common()))
    cases = len({v.case for v in verdicts})
    failed = sum(v.failed for v in verdicts)
    what = f"replay of {args.replay}" if args.replay else f"seed {args.seed}"
    print(
        f"{cases} cases ({what}), {len(verdicts)} jobs, {failed} failed, {elapsed:.0f} s "
        f"with {args.workers} workers on {os.cpu_count()} cores"
    )


def _save(failed: list[Verdict], args: argparse.Namespace, described: dict[int, str]) -> None:
    corpus = seeds()
    REGRESSIONS.mkdir(parents=True, exist_ok=True)
    for verdict in failed:
        _, data = case(corpus, args.seed, verdict.case)
        if len(data) > MAX_SAVED:
            print(
                f"not saved ({len(data)} bytes): python -m tests.fuzz --seed {args.seed} "
                f"--only {verdict.case}  # {described.get(verdict.case, '')}"
            )
            continue
        ext = FORMATS[name].ext if (name := imaging.sniff(data[:64])) else "bin"
        digest = hashlib.sha256(data).hexdigest()[:12]
        path = REGRESSIONS / f"{verdict.job}-{verdict.outcome}-{digest}.{ext}"
        path.write_bytes(data)
        print(
            f"saved {path.relative_to(REGRESSIONS.parents[2])}  # seed {args.seed} case "
            f"{verdict.case}: {described.get(verdict.case, '')}"
        )


if __name__ == "__main__":
    sys.exit(main())
