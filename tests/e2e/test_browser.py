"""In a real browser (Debian's chromium driven by Playwright): the demo page and the Uppy page
against `imagepipe local`. A missing browser fails the run: these tests are never skipped
(`make test` installs Debian's chromium first when it can, or says what to install)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import RunningStack, local_only, photo_file

pytestmark = [pytest.mark.e2e, local_only]  # the demo pages are served by the local stack


def test_demo_page_uploads_dedups_and_renders_the_picture(
    browser: Any, stack: RunningStack, tmp_path: Path
) -> None:
    page = browser.new_page()
    page.goto(f"{stack.api}/")
    first = photo_file(tmp_path, "first.jpg", 1)
    # Given a first photo uploaded and processed through the page
    page.set_input_files("#files", [str(first)])
    page.wait_for_selector("#uploads .card .status.completed", timeout=90_000)
    # When the same photo (another name) and a new one are picked together
    copy = tmp_path / "copy-of-first.jpg"
    copy.write_bytes(first.read_bytes())
    second = photo_file(tmp_path, "second.jpg", 2)
    page.set_input_files("#files", [str(copy), str(second)])
    # Then the copy is shown as a duplicate and the new one is uploaded and processed
    duplicate = page.locator("#uploads .card", has_text="copy-of-first.jpg")
    duplicate.locator(".badge.duplicate").wait_for(timeout=30_000)
    fresh = page.locator("#uploads .card", has_text="second.jpg")
    fresh.locator(".badge.new").wait_for(timeout=30_000)
    fresh.locator(".status.completed").wait_for(timeout=90_000)
    # And it is rendered as a <picture> with AVIF and WebP sources over the three widths
    sources = fresh.locator("picture source")
    assert sources.count() == 2
    assert sources.nth(0).get_attribute("type") == "image/avif"
    assert sources.nth(1).get_attribute("type") == "image/webp"
    srcset = sources.nth(0).get_attribute("srcset") or ""
    # (a 900 px wide photo: small is 640, medium and large are never enlarged past 900)
    assert " 640w" in srcset
    assert " 900w" in srcset
    image = fresh.locator("picture img")
    image.wait_for(timeout=30_000)
    page.wait_for_function(
        "(img) => img.complete && img.naturalWidth > 0",
        arg=image.element_handle(),
        timeout=30_000,
    )
    page.close()


def test_uppy_page_uploads_through_uppy(browser: Any, stack: RunningStack, tmp_path: Path) -> None:
    # Given the Uppy page, its Uppy instance ready, with any script error collected
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{stack.api}/uppy")
    page.wait_for_function("() => window.imagepipeUppy !== undefined", timeout=30_000)
    # When a photo is added to the dashboard and its upload started
    photo = photo_file(tmp_path, "uppy.jpg", 3)
    page.set_input_files(".uppy-Dashboard-input >> nth=0", [str(photo)])
    page.click(".uppy-StatusBar-actionBtn--upload")
    # Then the page lists it as completed, and no script error occurred on the way
    page.wait_for_selector('#results li[data-status="completed"]', timeout=90_000)
    assert errors == []
    page.close()


def test_both_pages_work_under_their_content_security_policy(
    browser: Any, stack: RunningStack, tmp_path: Path
) -> None:
    # Given each page served with its policy (no inline script, no eval, only the API, the
    # emulated S3 and the live socket to talk to), with every policy violation collected
    violations: list[str] = []
    for path in ("/", "/uppy"):
        page = browser.new_page()
        page.on(
            "console",
            lambda message: (
                violations.append(message.text)
                if "Content Security Policy" in message.text
                else None
            ),
        )
        response = page.goto(f"{stack.api}{path}")
        assert response is not None
        headers = response.headers
        policy = headers["content-security-policy"]
        assert "script-src 'self';" in policy
        assert "unsafe-inline" not in policy
        assert "unsafe-eval" not in policy
        assert headers["x-content-type-options"] == "nosniff"
        # When a photo goes all the way through the page (uploaded to S3, shown from it)
        photo = photo_file(tmp_path, f"csp{len(path)}.jpg", 10 + len(path))
        if path == "/":
            page.set_input_files("#files", [str(photo)])
            card = page.locator("#uploads .card .status.completed")
            card.wait_for(timeout=90_000)
            page.wait_for_function(
                "() => [...document.querySelectorAll('#uploads picture img')]"
                ".some((img) => img.complete && img.naturalWidth > 0)",
                timeout=30_000,
            )
        else:
            page.wait_for_function("() => window.imagepipeUppy !== undefined", timeout=30_000)
            page.set_input_files(".uppy-Dashboard-input >> nth=0", [str(photo)])
            page.click(".uppy-StatusBar-actionBtn--upload")
            page.wait_for_selector('#results li[data-status="completed"]', timeout=90_000)
        page.close()
    # Then nothing the pages do was refused by their policy
    assert violations == []
