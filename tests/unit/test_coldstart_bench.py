"""The cold-start benchmark's report and checks (tests/bench/coldstart.py), from made-up runs: the
ratio is our init over the bare handler's, per function and tracing setting, and only Lambda's
settings are checked."""

from __future__ import annotations

import pytest

from tests.bench.coldstart import (
    API_FUNCTIONS,
    BARE,
    HEADING,
    ColdStartSummary,
    Measured,
    Row,
    Run,
    check_coldstart,
    render_coldstart,
)


def run(import_ms: float, invoke_ms: float, imported: list[str]) -> Run:
    return Run(
        import_cpu=import_ms / 1000,
        import_wall=import_ms / 1000,
        invoke_cpu=invoke_ms / 1000,
        invoke_wall=invoke_ms / 1000,
        status=200,
        imported=imported,
        later=[],
        traces=0,
    )


def summary(ours_import_ms: list[float], bare_import_ms: float) -> ColdStartSummary:
    presign = API_FUNCTIONS[0]
    bare = BARE[presign.kind]
    rows = []
    for mode in ("on", "off", "local"):
        ours = Measured(
            presign,
            mode,
            [run(ms, 50, ["presign_upload", "pynamodb.models", "json"]) for ms in ours_import_ms],
            ["DynamoDB_20120810.GetItem"],
            [("imagepipe", 12.0)],
        )
        theirs = Measured(bare, mode, [run(bare_import_ms, 5, ["bare_http", "json"])], [], [])
        rows.append(Row(ours, theirs))
    return ColdStartSummary(rows, 3, ((1.0, 1.0, 1.0), (1.0, 1.0, 1.0)), "Python 3")


def test_the_ratio_is_the_median_init_over_the_bare_init() -> None:
    # Given three runs of ours (medians 240 ms) against a bare handler at 200 ms
    made = summary([230, 240, 900], 200)

    # When it is checked
    checks = check_coldstart(made)

    # Then each Lambda setting is a check of 1.20x, which passes; outside Lambda is not checked
    assert [(check.photo, check.passed) for check in checks] == [
        ("PresignUploadFunction", True),
        ("PresignUploadFunction", True),
    ]
    assert all(check.measured.startswith("1.20x (240 vs 200 CPU ms)") for check in checks)
    assert made.rows[0].total_ratio == pytest.approx((240 + 50) / (200 + 5))


def test_a_slower_init_fails_its_check() -> None:
    assert not any(check.passed for check in check_coldstart(summary([250], 200)))


def test_the_section_names_the_packages_beyond_the_bare_handler() -> None:
    # Given a run whose import loads pynamodb, which the bare handler's does not
    section = render_coldstart(summary([240], 200), elapsed=12.0)

    # Then the section starts with its heading and has a row per setting naming pynamodb
    assert section.startswith(HEADING + "\n")
    rows = [line for line in section.splitlines() if line.startswith("| PresignUploadFunction")]
    assert len(rows) == 3
    assert all("| pynamodb |" in line and "| 1.20 |" in line for line in rows)
