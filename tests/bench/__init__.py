"""The imaging benchmark behind `make bench`: our Variants job against a naive Pillow job, and
Ingest's memory when it hashes a 256 MiB upload (ingest.py).

    .venv/bin/python -m tests.bench [--avif-speed N] [--repeat N] [--photos a,b] [--output PATH]
                                    [--only imaging|ingest]

Each job runs once per repeat in a fresh interpreter pinned to one CPU (jobs.py), so its peak RSS
is its own and every encoder runs on one thread; the parent (runner.py) compares the outputs with
a high-quality reference (quality.py) and writes the Markdown report (report.py)."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS = ROOT / "functions"

# The imagepipe package lives in functions/ (the Lambda CodeUri), not on the default path.
if str(FUNCTIONS) not in sys.path:
    sys.path.insert(0, str(FUNCTIONS))
