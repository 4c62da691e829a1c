"""The report's sections: a partial run (`--only X`) keeps what it does not redo."""

from __future__ import annotations

from tests.bench.__main__ import SECTIONS, split


def test_split_finds_the_imaging_part_and_each_section_in_any_order() -> None:
    # Given a report with the imaging part, then the throughput and ingest sections
    imaging = "# Imaging benchmark\n\n## Summary\n\n| a |\n\n## Targets\n\nok\n\n"
    throughput = f"{SECTIONS['throughput']}\n\n40 images\n\n"
    ingest = f"{SECTIONS['ingest']}\n\n8 MiB\n"
    # When it is split
    part, sections = split(imaging + throughput + ingest)
    # Then every part is whole, headings included, and nothing else is found
    assert part == imaging
    assert sections == {"throughput": throughput, "ingest": ingest}


def test_split_of_nothing_is_nothing() -> None:
    assert split("") == (None, {})
    assert split(f"{SECTIONS['coldstart']}\n\nx\n") == (
        None,
        {"coldstart": f"{SECTIONS['coldstart']}\n\nx\n"},
    )
