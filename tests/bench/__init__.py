"""The benchmark behind `make bench`, one Markdown report (tests/bench/RESULTS.md):

- imaging: our Variants job against a full-decode Pillow job with the same encoder settings
  (the detail reference) and the reference pipeline in sharp (sharp.py), on real photos, each
  job in a fresh process pinned to one CPU (jobs.py); every output scored against a float
  LANCZOS reference with SSIM, SSIMULACRA2 and PSNR (quality.py); the targets (runner.py);
- ingest: Ingest's memory when it hashes a 256 MiB upload (ingest.py);
- coldstart: the API functions' cold start against a bare Powertools handler (coldstart.py);
- throughput: 40 distinct 12 MP photos through the local stack (throughput.py).

    .venv/bin/python -m tests.bench [--avif-speed N] [--repeat N] [--photos a,b] [--output PATH]
                                    [--only imaging|ingest|coldstart|throughput]

A partial run (--only) keeps the other parts of the previous report."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS = ROOT / "functions"

# The imagepipe package lives in functions/ (the Lambda CodeUri), not on the default path.
if str(FUNCTIONS) not in sys.path:
    sys.path.insert(0, str(FUNCTIONS))
