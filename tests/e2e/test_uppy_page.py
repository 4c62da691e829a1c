"""The Uppy page in Chromium: a file the API already holds is done ("already stored", linked),
not a failure; a file the API refuses shows the API's message; Uppy's own restrictions (types,
files per request) come from what the API accepts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import requests

from tests.e2e.conftest import RunningStack, local_only, photo_file

pytestmark = [pytest.mark.e2e, local_only]


def uppy_page(browser: Any, stack: RunningStack) -> tuple[Any, list[str]]:
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{stack.api}/uppy")
    page.wait_for_function("() => window.imagepipeUppy !== undefined", timeout=30_000)
    return page, errors


def add_and_upload(page: Any, *paths: Path) -> None:
    page.set_input_files(".uppy-Dashboard-input >> nth=0", [str(p) for p in paths])
    page.click(".uppy-StatusBar-actionBtn--upload")


def test_a_file_already_stored_is_done_and_linked_not_failed(
    browser: Any, stack: RunningStack, tmp_path: Path
) -> None:
    # Given a photo uploaded once through the page
    photo = photo_file(tmp_path, "twice.jpg", 41)
    first, errors = uppy_page(browser, stack)
    add_and_upload(first, photo)
    first.wait_for_selector('#results li[data-status="completed"]', timeout=90_000)
    first.close()
    # When the same photo is uploaded again, in another session
    page, errors = uppy_page(browser, stack)
    add_and_upload(page, photo)
    # Then the page says it is already stored, links its image, and shows it completed
    item = page.locator("#results li").first
    item.locator(".state", has_text="already stored").wait_for(timeout=60_000)
    page.wait_for_selector('#results li[data-status="completed"]', timeout=60_000)
    link = item.locator("a.stored")
    image_id = link.inner_text()
    assert link.get_attribute("href") == f"/images/{image_id}"
    assert requests.get(f"{stack.api}/images/{image_id}", timeout=10).status_code == 200
    # And Uppy counts the file as done, without an error or a retry button
    state = page.evaluate(
        "() => { const [f] = window.imagepipeUppy.getFiles();"
        " return {complete: f.progress.uploadComplete, error: f.error || null}; }"
    )
    assert state == {"complete": True, "error": None}
    assert page.locator(".uppy-Dashboard-Item-action--retry").count() == 0
    assert errors == []
    page.close()


def test_a_file_the_api_refuses_shows_the_apis_message(
    browser: Any, stack: RunningStack, tmp_path: Path
) -> None:
    # Given the page, and an empty .jpg (Uppy's restrictions allow it; the API does not)
    page, errors = uppy_page(browser, stack)
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    # When it is uploaded
    add_and_upload(page, empty)
    # Then the item is rejected with the API's code and message, and Uppy marks the file failed
    state = page.locator('#results li[data-status="rejected"] .state')
    state.wait_for(timeout=30_000)
    text = state.inner_text()
    assert "rejected" in text
    assert "invalid_size" in text
    assert "files[0].size" in text
    error = page.evaluate("() => window.imagepipeUppy.getFiles()[0].error")
    assert error
    assert errors == []
    page.close()


def test_uppys_restrictions_are_what_the_api_accepts(
    browser: Any, stack: RunningStack, tmp_path: Path
) -> None:
    # Given the page and what the API accepts
    limits = requests.get(f"{stack.api}/static/limits.json", timeout=10).json()
    assert limits["maxFilesPerRequest"] == 10
    assert "image/jpeg" in limits["allowedContentTypes"]
    page, _ = uppy_page(browser, stack)
    # When a text file, ten photos and then an eleventh are added
    text = tmp_path / "notes.txt"
    text.write_text("not an image")
    page.set_input_files(".uppy-Dashboard-input >> nth=0", [str(text)])
    photos = [photo_file(tmp_path, f"many-{n}.jpg", 60 + n) for n in range(11)]
    # (the tenth fills the dashboard: the eleventh is added as a page script would add it)
    page.set_input_files(".uppy-Dashboard-input >> nth=0", [str(p) for p in photos[:10]])
    refused = page.evaluate(
        """(bytes) => { try {
            window.imagepipeUppy.addFile({ name: "eleventh.jpg", type: "image/jpeg",
              data: new Blob([new Uint8Array(bytes)], { type: "image/jpeg" }) });
            return null; } catch (error) { return error.message; } }""",
        list(photos[10].read_bytes()[:2048]),
    )
    # Then Uppy kept no text file, and the API's ten photos but not an eleventh
    assert refused is not None
    assert "10" in refused
    names = page.evaluate("() => window.imagepipeUppy.getFiles().map((f) => f.name)")
    assert "notes.txt" not in names
    assert sorted(names) == sorted(p.name for p in photos[:10])
    page.close()
