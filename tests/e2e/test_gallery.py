"""The demo page as a gallery, in a real browser (Debian's chromium driven by Playwright) against
`imagepipe local`: twelve files picked at once (sent as two batches), every one shown, the failed
one with its reason, the detail view with its <picture>, variants and metadata, keyboard
navigation, delete with confirmation and undo, and a phone-sized viewport. Screenshots of the
gallery and the detail view (desktop and phone) go to test-artifacts/ at the repository root
(IMAGEPIPE_ARTIFACTS overrides it) for a person to look at."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import ExifTags, Image, ImageDraw
from PIL.TiffImagePlugin import IFDRational

from tests.e2e.conftest import ROOT, RunningStack, local_only, local_stack, photo_file

pytestmark = [pytest.mark.e2e, local_only]  # the demo page is served by the local stack

ARTIFACTS = Path(os.environ.get("IMAGEPIPE_ARTIFACTS", ROOT / "test-artifacts"))
PROCESSED = 150_000  # ms: twelve uploads hashed, sent, ingested and given variants, under load
PAGE_SIZE = 5  # the gallery's page, small so that twelve images take three pages
PHOTOS = 11
SESSION_KEY = "imagepipe.session"
# Scroll to the end of the gallery (its next page loads when the end comes near) until it
# shows `count` images.
SCROLLED_TO = """(count) => {
  document.getElementById("more-zone").scrollIntoView();
  return document.querySelectorAll("#gallery .cell:not([hidden])").length === count;
}"""
TIMES = "\u00d7"  # the multiplication sign the page writes sizes with
LOADED = "(img) => img.complete && img.naturalWidth > 0"


def scene() -> Image.Image:
    """A 900x600 picture of flat shapes on gradients, a corner of random pixels making it new."""
    gradient = Image.linear_gradient("L").resize((900, 600))
    img = Image.merge(
        "RGB",
        (gradient, gradient.transpose(Image.Transpose.ROTATE_180), Image.new("L", (900, 600), 140)),
    )
    draw = ImageDraw.Draw(img)
    draw.ellipse((120, 90, 420, 390), fill=(240, 200, 40))
    draw.rectangle((520, 260, 820, 540), fill=(30, 60, 150))
    img.paste(Image.frombytes("RGB", (16, 16), os.urandom(16 * 16 * 3)), (0, 0))
    return img


def with_camera(pixels: Image.Image, target: Path, quality: int) -> None:
    """`pixels` saved as `target` with a camera's EXIF (make, model, lens, exposure, date)."""
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "Fujifilm"
    exif[ExifTags.Base.Model] = "X-T5"
    sub = exif.get_ifd(ExifTags.IFD.Exif)
    sub[ExifTags.Base.LensModel] = "XF23mmF2 R WR"
    sub[ExifTags.Base.ExposureTime] = IFDRational(1, 250)
    sub[ExifTags.Base.FNumber] = IFDRational(28, 10)
    sub[ExifTags.Base.ISOSpeedRatings] = 400
    sub[ExifTags.Base.FocalLength] = IFDRational(23, 1)
    sub[ExifTags.Base.DateTimeOriginal] = "2026:05:17 18:42:10"
    pixels.save(target, "JPEG", quality=quality, exif=exif)


class Watched:
    """A page with every policy violation, script error and DELETE request it makes recorded."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.violations: list[str] = []
        self.errors: list[str] = []
        self.deletes: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        page.on("request", self._request)

    def _request(self, request: Any) -> None:
        if request.method == "DELETE":
            self.deletes.append(request.url)

    def _console(self, message: Any) -> None:
        if "Content Security Policy" in message.text:
            self.violations.append(message.text)

    def clean(self) -> None:
        assert self.violations == []
        assert self.errors == []


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    """This module's own stack. In the suite's shared one the public tenant holds every other
    test's images, and there the near-duplicate link was missing once in CI (it passed alone):
    with a stack of its own the gallery sees only what this module uploads."""
    log = tmp_path_factory.mktemp("gallery-stack") / "imagepipe-local.log"
    with local_stack(log) as running:
        yield running


@pytest.fixture(scope="module")
def gallery(
    browser: Any, stack: RunningStack, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Watched]:
    """The desktop page after eleven photos and one text file named .jpg were picked at once,
    every one of them final."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    files = tmp_path_factory.mktemp("gallery")
    photos = [photo_file(files, f"photo-{n:02}.jpg", 30 + n) for n in range(PHOTOS)]
    # photo-00 as a camera wrote it, and photo-01 a re-encoded copy of it: a near-duplicate
    # (a scene, not noise: noise has no stable perceptual hash)
    picture = scene()
    with_camera(picture, photos[0], quality=85)
    with_camera(picture, photos[1], quality=60)
    bad = files / "notes.jpg"
    bad.write_text("this is a text file, not a JPEG\n" * 20)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    watched = Watched(context.new_page())
    page = watched.page
    page.goto(f"{stack.api}/?pageSize={PAGE_SIZE}")
    page.set_input_files("#files", [*map(str, photos[:6]), str(bad), *map(str, photos[6:])])
    page.wait_for_function(
        """(n) => document.querySelectorAll('#uploads .card[data-status="completed"]').length === n
          && document.querySelectorAll('#uploads .card[data-status="failed"]').length === 1""",
        arg=PHOTOS,
        timeout=PROCESSED,
    )
    yield watched
    context.close()


def test_twelve_files_are_sent_in_batches_and_all_shown(gallery: Watched) -> None:
    page = gallery.page
    # Given twelve files picked at once (more than the 10 one request takes)
    # Then each got its own card, and the queue sums them up
    assert page.locator("#uploads .card").count() == PHOTOS + 1
    assert "11 completed, 1 failed" in page.inner_text("#queue-summary")
    # And the gallery, five a page, shows all twelve once scrolled to its end
    page.wait_for_function(SCROLLED_TO, arg=PHOTOS + 1, timeout=30_000)
    assert page.locator("#more").is_hidden()  # no page left
    # And the failed one says why, in its cell
    failed = page.locator('#gallery .cell[data-status="failed"]')
    assert failed.count() == 1
    assert "notes.jpg" in failed.inner_text()
    failed.locator(".status:has-text('—')").wait_for(timeout=30_000)
    reason = failed.locator(".status").inner_text()
    assert reason.startswith("failed — ")
    assert any(code in reason for code in ("unsupported_format", "corrupt_image"))
    # And its detail view says why too
    failed.locator(".open").click()
    page.locator("#detail[open] #detail-panel .reason").wait_for(timeout=10_000)
    assert reason.removeprefix("failed — ") in page.inner_text("#detail-panel .reason")
    page.keyboard.press("Escape")
    page.locator("#detail[open]").wait_for(state="detached", timeout=10_000)
    # And the photos' cells are square, cropped (not stretched), with a 640 px variant on offer
    cell = page.locator('#gallery .cell[data-status="completed"] .open').first
    box = cell.bounding_box()
    assert box is not None
    assert abs(box["width"] - box["height"]) <= 1
    img = cell.locator("img")
    page.wait_for_function(
        "(img) => img.srcset.includes(' 640w') && img.complete && img.naturalWidth > 0",
        arg=img.element_handle(),
        timeout=30_000,
    )
    assert img.evaluate("(img) => getComputedStyle(img).objectFit") == "cover"
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(ARTIFACTS / "gallery-desktop.png"), full_page=True)
    gallery.clean()


def test_detail_view_shows_picture_variants_metadata_and_follows_the_keyboard(
    gallery: Watched,
) -> None:
    page = gallery.page
    page.wait_for_function(SCROLLED_TO, arg=PHOTOS + 1, timeout=30_000)
    cells = page.locator("#gallery .cell:not([hidden])")
    ids = [cells.nth(i).get_attribute("data-image-id") for i in range(cells.count())]
    chosen = page.locator("#gallery .cell", has_text="photo-00.jpg").get_attribute("data-image-id")
    twin = page.locator("#gallery .cell", has_text="photo-01.jpg").get_attribute("data-image-id")
    first = page.locator(f'#gallery .cell[data-image-id="{chosen}"]')
    at = ids.index(chosen)
    # When the photo a camera took is opened
    first.locator(".open").click()
    detail = page.locator("#detail[open]")
    detail.wait_for(timeout=10_000)
    # Then it is shown through a <picture> with AVIF and WebP sources over its widths
    sources = detail.locator("#detail-view picture source")
    sources.first.wait_for(state="attached", timeout=30_000)
    assert [sources.nth(i).get_attribute("type") for i in range(2)] == ["image/avif", "image/webp"]
    assert " 640w" in (sources.nth(0).get_attribute("srcset") or "")
    page.wait_for_function(
        LOADED, arg=detail.locator("#detail-view img").element_handle(), timeout=30_000
    )
    # And its six variants are listed with format, size and bytes
    rows = detail.locator("table.variants tbody tr")
    assert rows.count() == 6
    assert {rows.nth(i).locator("td").nth(1).inner_text() for i in range(6)} == {"avif", "webp"}
    assert f"640{TIMES}427" in rows.first.inner_text()
    # And the metadata is a readable panel: dimensions, colours as swatches
    panel = detail.locator("#detail-panel")
    assert f"900{TIMES}600 px" in panel.inner_text()
    assert panel.locator(".swatch").count() >= 2
    camera = panel.locator(".panel-section", has_text="camera").inner_text()
    for fact in ("Fujifilm X-T5", "XF23mmF2 R WR", "1/250 s", "f/2.8", "ISO 400", "23 mm"):
        assert fact in camera
    assert "2026" in camera
    # And its re-encoded copy is linked as a near-duplicate
    near = panel.locator(f'.similar a[href="#image={twin}"]')
    assert "photo-01.jpg" in near.inner_text()
    page.screenshot(path=str(ARTIFACTS / "detail-desktop.png"))
    # When ← and → are pressed, the previous and then the same image again are shown
    shown = "(id) => document.getElementById('detail').dataset.imageId === id"
    page.keyboard.press("ArrowLeft")
    page.wait_for_function(shown, arg=ids[at - 1])
    page.keyboard.press("ArrowRight")
    page.wait_for_function(shown, arg=ids[at])
    # And the near-duplicate's link opens it
    near.click()
    page.wait_for_function(shown, arg=twin)
    # And Esc closes the view
    page.keyboard.press("Escape")
    detail.wait_for(state="detached", timeout=10_000)
    assert page.locator("#detail").is_hidden()
    gallery.clean()


def test_delete_asks_first_can_be_undone_and_then_deletes(
    gallery: Watched, stack: RunningStack
) -> None:
    page = gallery.page
    page.wait_for_function(SCROLLED_TO, arg=PHOTOS + 1, timeout=30_000)
    completed = page.locator('#gallery .cell[data-status="completed"]')
    image_id = completed.nth(2).get_attribute("data-image-id") or ""
    cell = page.locator(f'#gallery .cell[data-image-id="{image_id}"]')
    before = len(gallery.deletes)

    def ask_delete() -> None:
        cell.locator(".open").click()
        page.locator("#detail[open] button.delete").click()
        page.locator("#confirm[open]").wait_for(timeout=5_000)

    # When delete is asked and the confirmation cancelled, nothing happens
    ask_delete()
    page.click("#confirm-cancel")
    assert page.locator("#detail[open]").count() == 1
    assert cell.get_attribute("hidden") is None
    page.keyboard.press("Escape")
    cell.wait_for(state="visible", timeout=5_000)
    # When it is confirmed, the image leaves the gallery with an Undo offered
    ask_delete()
    page.click("#confirm-ok")
    cell.wait_for(state="hidden", timeout=5_000)
    undo = page.locator(".toast button", has_text="undo")
    # And Undo brings it back, no DELETE sent
    undo.click()
    cell.wait_for(state="visible", timeout=5_000)
    assert len(gallery.deletes) == before
    # When it is deleted again and left alone, the DELETE goes after the undo delay, once
    # (the undone one never went: it would have gone first)
    ask_delete()
    page.click("#confirm-ok")
    cell.wait_for(state="detached", timeout=20_000)
    assert gallery.deletes[before:] == [f"{stack.api}/images/{image_id}"]
    assert stack.http.get(f"{stack.api}/images/{image_id}", timeout=10).status_code == 404
    gallery.clean()


def test_gallery_and_detail_fit_a_phone(
    browser: Any, stack: RunningStack, gallery: Watched
) -> None:
    # Given the same session on a phone-sized screen at 3x
    session = gallery.page.inner_text("#session")
    context = browser.new_context(
        viewport={"width": 390, "height": 844},
        device_scale_factor=3,
        is_mobile=True,
        has_touch=True,
    )
    phone = Watched(context.new_page())
    page = phone.page
    page.goto(f"{stack.api}/")
    page.evaluate("([key, value]) => localStorage.setItem(key, value)", [SESSION_KEY, session])
    page.reload()
    # Then the gallery's cells come three a row, nothing wider than the screen
    cells = page.locator("#gallery .cell")
    page.wait_for_function("() => document.querySelectorAll('#gallery .cell').length >= 6")
    boxes = [cells.nth(i).bounding_box() for i in range(3)]
    assert all(b is not None for b in boxes)
    assert len({round(b["y"]) for b in boxes if b}) == 1
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    # And at 3x each cell takes the 640 px variant, not the 150 px thumbnail
    img = page.locator('#gallery .cell[data-status="completed"] img').first
    page.wait_for_function(
        "(img) => img.currentSrc.includes('_small.webp') && img.complete && img.naturalWidth > 0",
        arg=img.element_handle(),
        timeout=30_000,
    )
    page.locator('#gallery .cell[data-status="failed"] .status:has-text("—")').wait_for(
        timeout=30_000
    )
    page.screenshot(path=str(ARTIFACTS / "gallery-phone.png"))
    # And the detail view fills the screen, the picture above its panel
    page.locator("#gallery .cell", has_text="photo-00.jpg").locator(".open").click()
    view = page.locator("#detail[open] #detail-view img")
    view.wait_for(timeout=30_000)
    page.wait_for_function(LOADED, arg=view.element_handle(), timeout=30_000)
    picture, panel = view.bounding_box(), page.locator("#detail-panel").bounding_box()
    assert picture is not None
    assert panel is not None
    assert panel["y"] >= picture["y"] + picture["height"] - 1
    assert picture["width"] <= 390
    page.screenshot(path=str(ARTIFACTS / "detail-phone.png"))
    phone.clean()
    context.close()


def test_a_file_the_api_refuses_does_not_sink_its_batch(
    browser: Any, stack: RunningStack, tmp_path: Path
) -> None:
    # Given an empty file (the API refuses size 0, and with it the whole request) picked with
    # a photo
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    photo = photo_file(tmp_path, "photo-beside.jpg", 60)
    watched = Watched(browser.new_page())
    page = watched.page
    page.goto(f"{stack.api}/")
    page.set_input_files("#files", [str(empty), str(photo)])
    # Then the empty one is marked refused with the API's reason, and the photo still goes through
    refused = page.locator("#uploads .card", has_text="empty.jpg")
    refused.locator(".status.rejected").wait_for(timeout=30_000)
    assert "invalid_size" in refused.locator(".status").inner_text()
    sent = page.locator("#uploads .card", has_text="photo-beside.jpg")
    sent.locator(".status.completed").wait_for(timeout=PROCESSED)
    watched.clean()
    page.close()
