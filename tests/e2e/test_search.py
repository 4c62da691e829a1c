"""Search on the local stack as a user runs it: images uploaded with `imagepipe upload`, found
with `imagepipe search` and GET /search by the words of their filenames and their colours,
only in their own session when one is asked for, gone once deleted; `similar` answers.
Locally the semantics are lexical (README "Search"): the words must match."""

from __future__ import annotations

import json
import os
import secrets
import time
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from imagepipe_local.template import Template
from tests.e2e.conftest import ROOT, RunningStack, imagepipe, local_only

pytestmark = [pytest.mark.e2e, local_only]

ARTIFACTS = Path(os.environ.get("IMAGEPIPE_ARTIFACTS", ROOT / "test-artifacts"))


def coloured(directory: Path, name: str, rgb: tuple[int, int, int], size: tuple[int, int]) -> Path:
    """A flat colour with fresh noise: a new image every time, whose dominant colour is rgb."""
    noise = Image.effect_noise(size, 30).convert("RGB")
    noise.paste(Image.frombytes("RGB", (8, 8), secrets.token_bytes(8 * 8 * 3)), (0, 0))
    path = directory / name
    Image.blend(Image.new("RGB", size, rgb), noise, 0.12).save(path, "JPEG", quality=90)
    return path


def upload(stack: RunningStack, session: str, *paths: Path) -> dict[str, str]:
    """filename -> imageId, once every upload completed."""
    run = imagepipe("upload", *map(str, paths), "--api", stack.api, "--session", session, "--json")
    assert run.returncode == 0, run.stdout + run.stderr
    report = json.loads(run.stdout)
    entries = report["files"] if isinstance(report, dict) else report
    assert all(entry["status"] == "completed" for entry in entries), entries
    return {Path(entry["path"]).name: entry["imageId"] for entry in entries}


def search(stack: RunningStack, *args: str) -> list[dict[str, Any]]:
    run = imagepipe("search", *args, "--api", stack.api, "--json")
    assert run.returncode == 0, run.stdout + run.stderr
    results: list[dict[str, Any]] = json.loads(run.stdout)["results"]
    return results


def test_images_are_found_by_their_words_within_their_session_until_deleted(
    stack: RunningStack, tmp_path: Path
) -> None:
    # Given, in a session of their own, two red photos whose filenames share a word nothing
    # else has, and a blue one; and a red one in another session
    word = f"quokka{secrets.token_hex(3)}"
    here, there = f"search-{secrets.token_hex(4)}", f"search-{secrets.token_hex(4)}"
    red = coloured(tmp_path, f"{word} picnic.jpg", (205, 25, 30), (640, 480))
    red_too = coloured(tmp_path, f"{word} lunch.jpg", (200, 30, 25), (640, 480))
    blue = coloured(tmp_path, "sea.jpg", (25, 50, 210), (480, 640))
    ids = upload(stack, here, red, red_too, blue)
    elsewhere = upload(stack, there, coloured(tmp_path, "barn.jpg", (200, 20, 20), (640, 480)))

    # When the word is searched for / Then both photos named by it come back, best first
    found = search(stack, word)
    assert {r["imageId"] for r in found} == {ids[red.name], ids[red_too.name]}
    assert all(r["score"] > 0 and word in r["tags"] for r in found)
    # And the word with another of the filename's words ranks that photo first
    assert search(stack, f"{word} picnic")[0]["imageId"] == ids[red.name]

    # When "red" is searched within the session / Then its red photos, not its blue one, nor
    # the red one of the other session; and within the other session, only that one
    in_session = {r["imageId"] for r in search(stack, "red", "--session", here)}
    assert in_session == {ids[red.name], ids[red_too.name]}
    assert {r["imageId"] for r in search(stack, "red", "--session", there)} == {
        elsewhere["barn.jpg"]
    }
    assert [r["imageId"] for r in search(stack, "blue", "--session", here)] == [ids[blue.name]]

    # When the images like the first red photo are asked for / Then the other one answers
    response = stack.http.get(f"{stack.api}/images/{ids[red.name]}/similar", timeout=30)
    assert response.status_code == 200, response.text
    similar = [r["imageId"] for r in response.json()["results"]]
    assert similar[0] == ids[red_too.name]
    assert ids[red.name] not in similar

    # When the first is deleted / Then nothing finds it any more
    removed = imagepipe("rm", ids[red.name], "--api", stack.api)
    assert removed.returncode == 0, removed.stdout + removed.stderr
    assert [r["imageId"] for r in search(stack, word)] == [ids[red_too.name]]


def test_a_query_without_words_is_refused_with_its_code(stack: RunningStack) -> None:
    run = imagepipe("search", "the", "--api", stack.api)
    assert run.returncode == 4, run.stdout + run.stderr  # REJECTED (README's exit codes)
    assert "invalid_query" in run.stderr
    response = stack.http.get(f"{stack.api}/search", params={"q": "x" * 201}, timeout=30)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "query_too_long"


def test_the_demo_page_searches_and_shows_similar_images(
    browser: Any, stack: RunningStack, tmp_path: Path
) -> None:
    # Given, in a session of their own, two red photos sharing a rare word and a blue one
    word = f"wombat{secrets.token_hex(3)}"
    session = f"page-{secrets.token_hex(4)}"
    red = coloured(tmp_path, f"{word} one.jpg", (205, 25, 30), (640, 480))
    red_too = coloured(tmp_path, f"{word} two.jpg", (200, 30, 25), (640, 480))
    blue = coloured(tmp_path, "lake.jpg", (25, 50, 210), (480, 640))
    ids = upload(stack, session, red, red_too, blue)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on(
        "console",
        lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None,
    )
    page.add_init_script(f"localStorage.setItem('imagepipe.session', {json.dumps(session)})")
    page.goto(stack.api)
    page.wait_for_function("() => document.querySelectorAll('#gallery .cell').length === 3")

    # When "red" is searched for in the session
    page.fill("#q", "red")
    page.click("#search button[type=submit]")
    page.wait_for_selector("#found:not([hidden]) #result-grid .cell")
    page.wait_for_function(
        "[...document.querySelectorAll('#result-grid img')].every(i => i.complete)"
    )
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "search.png"))

    # Then the two red photos are shown as thumbnails, with their scores, the blue one not
    shown = page.eval_on_selector_all(
        "#result-grid .cell", "cells => cells.map(c => c.dataset.imageId)"
    )
    assert sorted(shown) == sorted([ids[red.name], ids[red_too.name]])
    assert page.is_visible("#result-grid .cell img")
    assert "score" in page.inner_text("#result-grid")

    # When a result is opened / Then its detail view lists the other one under "similar"
    page.click(f'#result-grid .cell[data-image-id="{ids[red.name]}"] .open')
    page.wait_for_selector("#detail[open] .similar a")
    linked = page.eval_on_selector_all(
        "#detail .similar a", "links => links.map(a => a.getAttribute('href'))"
    )
    assert f"#image={ids[red_too.name]}" in linked
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "search-detail.png"))
    page.keyboard.press("Escape")

    # When a word nothing has is searched for / Then the page says nothing was found
    page.fill("#q", f"{word}zzz")
    page.click("#search button[type=submit]")
    page.wait_for_selector("#no-results:not([hidden])")
    # When cleared / Then the results go
    page.click("#clear-search")
    assert page.is_hidden("#found")
    assert errors == []
    context.close()


def test_reindex_sends_a_job_that_makes_the_image_findable_again(
    stack: RunningStack, tmp_path: Path
) -> None:
    # Given a completed image, and its record's version
    word = f"numbat{secrets.token_hex(3)}"
    ids = upload(
        stack,
        f"reindex-{secrets.token_hex(4)}",
        coloured(tmp_path, f"{word}.jpg", (20, 160, 40), (320, 240)),
    )
    (image_id,) = ids.values()
    dynamodb = stack.client("dynamodb")
    table = Template.load().physical_name("ImagesTable")

    def version() -> int:
        item = dynamodb.get_item(TableName=table, Key={"pk": {"S": f"image#{image_id}"}})
        return int(item["Item"]["version"]["N"])

    before = version()
    # When it is reindexed
    run = imagepipe("reindex", image_id, "--endpoint", stack.aws)
    # Then one job was sent, MetadataFunction ran it (the record was written again), and the
    # image is still found by its word
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.strip() == "1 reindex job(s) sent to MetadataQueue"
    deadline = time.monotonic() + 60
    while version() == before and time.monotonic() < deadline:
        time.sleep(0.5)
    assert version() > before
    assert [r["imageId"] for r in search(stack, word)] == [image_id]
    # And every completed image listing something missing can be sent the same way
    missing = imagepipe("reindex", "--missing", "--endpoint", stack.aws)
    assert missing.returncode == 0, missing.stdout + missing.stderr
    # And naming nothing is a usage error
    assert imagepipe("reindex", "--endpoint", stack.aws).returncode == 2
