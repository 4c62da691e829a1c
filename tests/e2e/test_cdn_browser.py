"""A second view of the gallery downloads no image again (issue 15), in a real browser (Debian's
chromium driven by Playwright) against `imagepipe local` and its CDN on the API port.

How a response "from the cache" is told: Playwright's Response has no such flag (`from_service_
worker` is about service workers only, and `request.timing` is -1 both for cache hits and for
requests it did not time), so the test listens to Chromium's DevTools protocol on the page:
`Network.responseReceived` carries `response.fromDiskCache` (the HTTP cache) and the status (a
304 is a revalidation that sent no body), and `Network.requestServedFromCache` names the
requests Blink's memory cache answered. An image answered from the memory cache before any
network event leaves no trace at all, which is a cache hit as well: what the test forbids is a
/cdn/ response with a body from the network (status 200 or 206, not from the disk cache, not
served from cache)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import RunningStack, local_only, photo_file
from tests.e2e.test_gallery import ARTIFACTS, SESSION_KEY, Watched
from tests.e2e.test_local_stack import _presign_and_post, wait_for

pytestmark = [pytest.mark.e2e, local_only]

SESSION = "e2e-cdn-browser"
PHOTOS = 3
# Every completed cell drawn from the CDN (its srcset chosen, not the inline placeholder).
ALL_FROM_CDN = """(n) => {
  const imgs = [...document.querySelectorAll('#gallery .cell[data-status="completed"] img')];
  const drawn = (img) => img.complete && img.naturalWidth > 0;
  return imgs.length === n && imgs.every((img) => img.currentSrc.includes('/cdn/') && drawn(img));
}"""


class NetworkLog:
    """The /cdn/ responses of a page, as Chromium's network stack reports them."""

    def __init__(self, page: Any, cdn: str) -> None:
        self.cdn = cdn
        self.responses: dict[str, dict[str, Any]] = {}
        self.from_cache: set[str] = set()
        session = page.context.new_cdp_session(page)
        session.on("Network.responseReceived", self._response)
        session.on("Network.requestServedFromCache", lambda e: self.from_cache.add(e["requestId"]))
        session.send("Network.enable")

    def _response(self, event: dict[str, Any]) -> None:
        if event["response"]["url"].startswith(self.cdn):
            self.responses[event["requestId"]] = event["response"]

    def clear(self) -> None:
        self.responses.clear()
        self.from_cache.clear()

    def downloaded(self) -> list[str]:
        """The URLs whose bytes came over the network."""
        return [
            response["url"]
            for request_id, response in self.responses.items()
            if response["status"] in (200, 206)
            and not response.get("fromDiskCache")
            and request_id not in self.from_cache
        ]

    def summary(self) -> str:
        disk = sum(1 for r in self.responses.values() if r.get("fromDiskCache"))
        revalidated = sum(1 for r in self.responses.values() if r["status"] == 304)
        memory = len(self.from_cache)
        return f"{disk} from disk cache, {memory} from memory cache, {revalidated} answered 304"


def _settle(page: Any) -> None:
    page.wait_for_function(ALL_FROM_CDN, arg=PHOTOS, timeout=30_000)
    time.sleep(1)  # any late candidate (a srcset re-chosen after layout) would have started


def test_a_second_view_of_the_gallery_downloads_no_image_again(
    browser: Any, stack: RunningStack, tmp_path: Path
) -> None:
    # Given a session of completed images
    for n in range(PHOTOS):
        data = photo_file(tmp_path, f"cdn-{n}.jpg", seed=70 + n).read_bytes()
        entry = _presign_and_post(stack, data, SESSION)
        assert wait_for(stack, entry["imageId"])["status"] == "completed"
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    watched = Watched(context.new_page())
    page = watched.page
    network = NetworkLog(page, f"{stack.api}/cdn/")
    page.goto(f"{stack.api}/")
    page.evaluate("([key, value]) => localStorage.setItem(key, value)", [SESSION_KEY, SESSION])
    # When the gallery is opened a first time
    page.reload()
    _settle(page)
    # Then its images come from the CDN, over the network
    first = network.downloaded()
    assert len(first) >= PHOTOS, network.responses
    # When the page is left and the gallery opened again (the listing and every detail read
    # again: the API signs the same URLs within its window)
    network.clear()
    page.goto(f"{stack.api}/uppy")
    page.goto(f"{stack.api}/")
    _settle(page)
    # Then no image was downloaded again: each came from the browser's cache or was a 304
    assert network.downloaded() == []
    second_view = network.summary()
    # And a reload (which revalidates only what is not `immutable`) downloads none either
    network.clear()
    page.reload()
    _settle(page)
    reload = network.summary()
    # And a new tab of the same browser profile (no memory cache of its own: the HTTP cache on
    # disk is what answers) downloads none either
    tab = Watched(context.new_page())
    tab_network = NetworkLog(tab.page, f"{stack.api}/cdn/")
    tab.page.goto(f"{stack.api}/")
    _settle(tab.page)
    assert tab_network.downloaded() == []
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    tab.page.screenshot(path=str(ARTIFACTS / "gallery-cdn-second-view.png"))
    watched.clean()
    tab.clean()
    context.close()
    print(f"first view: {len(first)} downloaded; second: {second_view}; reload: {reload}")
    print(f"new tab: {tab_network.summary()}")
