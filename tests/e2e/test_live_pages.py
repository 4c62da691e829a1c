"""Live updates in a real browser (Debian's chromium driven by Playwright) against `imagepipe
local`: the demo page and the Uppy page follow their session's images over the WebSocket that
POST /sessions/{id}/events opens, hear nothing of another session's images, poll while they
have no socket and reconnect with a fresh ticket when it closes."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

from tests.e2e.conftest import RunningStack, local_only, photo_file

pytestmark = [pytest.mark.e2e, local_only]  # the pages and their socket are the local stack's

LIVE = '#live[data-state="live"]'
POLLING = '#live[data-state="polling"]'
RECONNECTING = f"{POLLING}:has-text('reconnecting in')"  # a socket was refused or dropped
PROCESSED = 90_000  # ms: an upload hashed, sent, ingested and given its variants, under load
# Every state the badge takes from now on, in order (the page's own polling or reconnection
# may last a second: recorded, not sampled).
WATCH_BADGE = """() => {
  window.badgeStates = [];
  const badge = document.getElementById("live");
  new MutationObserver(() => window.badgeStates.push(badge.dataset.state))
    .observe(badge, { attributes: true, attributeFilter: ["data-state"] });
}"""


def _is(kind: str) -> Callable[[str | bytes], bool]:
    return lambda payload: json.loads(payload)["type"] == kind


def _is_socket_url_request(request: Any) -> bool:
    return bool(request.method == "POST" and urlparse(request.url).path.endswith("/events"))


@dataclass
class Traffic:
    """What a page heard over its sockets and asked of the API, in the order the browser saw it."""

    api: str
    seen: list[tuple[str, Any]] = field(default_factory=list)

    @classmethod
    def of(cls, page: Any, api: str) -> Traffic:
        traffic = cls(api)
        page.on("websocket", traffic._socket)
        page.on("request", lambda r: traffic.seen.append(("request", (r.method, r.url))))
        return traffic

    def _socket(self, socket: Any) -> None:
        socket.on("framereceived", lambda data: self.seen.append(("frame", json.loads(data))))

    def frames(self) -> list[dict[str, Any]]:
        return [message for kind, message in self.seen if kind == "frame"]

    def reads_before_their_message(self, image_id: str) -> int:
        """How many GET /images/{id} the page sent with no new message about the image before
        it: a page that polls sends some; one that follows its socket sends none."""
        messages = reads = unprompted = 0
        for kind, value in self.seen:
            if kind == "frame" and value["imageId"] == image_id:
                messages += 1
            elif kind == "request" and value == ("GET", f"{self.api}/images/{image_id}"):
                reads += 1
                unprompted += reads > messages
        return unprompted


def _open_live(browser: Any, api: str, path: str) -> tuple[Any, Any, Traffic]:
    """A new page (its own browser context, so its own session) at `path`, once its socket is
    open: the page, that socket and the page's traffic."""
    page = browser.new_page()
    traffic = Traffic.of(page, api)
    with page.expect_websocket(timeout=30_000) as opened:
        page.goto(f"{api}{path}")
    page.locator(LIVE).wait_for(timeout=30_000)
    return page, opened.value, traffic


def test_demo_page_shows_an_upload_completed_as_its_socket_says(
    browser: Any, stack: RunningStack, tmp_path: Path
) -> None:
    # Given the demo page with its session's socket open, and every state its badge takes
    page, socket, traffic = _open_live(browser, stack.api, "/")
    page.evaluate(WATCH_BADGE)
    # When a photo is uploaded through the page, until its socket says the image completed
    photo = photo_file(tmp_path, "live.jpg", 11)
    with socket.expect_event("framereceived", _is("image.completed"), timeout=PROCESSED):
        page.set_input_files("#files", [str(photo)])
    # Then the page shows it completed, with its variants
    card = page.locator("#uploads .card", has_text="live.jpg")
    card.locator(".status.completed").wait_for(timeout=30_000)
    assert card.locator("picture source").count() == 2
    image_id = card.get_attribute("data-image-id") or ""
    # And that came over the socket: processing and completed were heard, the page read the
    # image only when a message told it to (no polling: its check of unfinished images every
    # 30 s while live is far off), and it never left the live state
    kinds = {m["type"] for m in traffic.frames() if m["imageId"] == image_id}
    assert kinds == {"image.processing", "image.completed"}
    assert traffic.reads_before_their_message(image_id) == 0
    assert page.evaluate("window.badgeStates") == []
    assert page.locator(LIVE).count() == 1
    page.close()


def test_a_sessions_socket_hears_nothing_of_another_sessions_image(
    browser: Any, stack: RunningStack, tmp_path: Path
) -> None:
    # Given the demo page on a session A and the Uppy page on a session B, both live
    page_a, socket_a, traffic_a = _open_live(browser, stack.api, "/")
    page_b, socket_b, traffic_b = _open_live(browser, stack.api, "/uppy")
    session_a, session_b = page_a.inner_text("#session"), page_b.inner_text("#session")
    assert session_a != session_b
    # When a photo is uploaded to A, until A's socket says it completed
    with socket_a.expect_event("framereceived", _is("image.completed"), timeout=PROCESSED):
        page_a.set_input_files("#files", [str(photo_file(tmp_path, "a.jpg", 12))])
    image_a = page_a.locator("#uploads .card").get_attribute("data-image-id")
    # And then one to B through Uppy, until B's socket says that one completed. The notifier
    # posts an event to every socket it concerns before it takes the next event, and a socket
    # delivers in order: a message about A's image sent to B would have arrived before this.
    page_b.set_input_files(
        ".uppy-Dashboard-input >> nth=0", [str(photo_file(tmp_path, "b.jpg", 13))]
    )
    with socket_b.expect_event("framereceived", _is("image.completed"), timeout=PROCESSED):
        page_b.click(".uppy-StatusBar-actionBtn--upload")
    # Then B's socket carried B's image only, and A's socket A's image only
    page_b.locator('#results li[data-status="completed"]').wait_for(timeout=30_000)
    image_b = page_b.locator("#results li").get_attribute("data-image-id")
    assert {(m["sessionId"], m["imageId"]) for m in traffic_b.frames()} == {(session_b, image_b)}
    assert {(m["sessionId"], m["imageId"]) for m in traffic_a.frames()} == {(session_a, image_a)}
    # And the Uppy page followed its image over the socket, as the demo page does
    assert traffic_b.reads_before_their_message(image_b or "") == 0
    page_a.close()
    page_b.close()


def test_demo_page_polls_while_its_socket_is_refused_and_still_shows_the_result(
    browser: Any, stack: RunningStack, tmp_path: Path
) -> None:
    # Given the demo page, every socket URL it is handed spoilt on the way (a ticket whose
    # signature no longer matches, so the stack refuses the upgrade with 401)
    page = browser.new_page()
    sockets: list[Any] = []
    page.on("websocket", lambda socket: sockets.append(socket))

    def spoil(route: Any) -> None:
        answer = route.fetch().json()
        route.fulfill(json={**answer, "url": answer["url"] + "x"})

    page.route("**/sessions/*/events", spoil)
    # When it opens
    page.goto(f"{stack.api}/")
    # Then it polls, and asks again for a fresh socket URL after a backoff
    page.locator(RECONNECTING).wait_for(timeout=30_000)
    with page.expect_request(_is_socket_url_request, timeout=30_000):
        pass
    # And a photo uploaded meanwhile is followed to its final status by polling alone
    page.set_input_files("#files", [str(photo_file(tmp_path, "polled.jpg", 14))])
    card = page.locator("#uploads .card", has_text="polled.jpg")
    card.locator(".status.completed").wait_for(timeout=PROCESSED)
    assert card.locator("picture source").count() == 2
    assert page.locator(POLLING).count() == 1
    assert sockets  # sockets were tried...
    assert all(s.is_closed() for s in sockets)  # ...and refused
    page.close()


def test_demo_page_reconnects_with_a_fresh_ticket_when_its_socket_closes(
    browser: Any, stack: RunningStack
) -> None:
    # Given the demo page live, its sockets passed through routes the test can close
    page = browser.new_page()
    routes: list[tuple[Any, Any]] = []
    page.route_web_socket(
        lambda url: "ticket=" in url, lambda ws: routes.append((ws, ws.connect_to_server()))
    )
    page.goto(f"{stack.api}/")
    page.locator(LIVE).wait_for(timeout=30_000)
    page.evaluate(WATCH_BADGE)
    # When the socket is closed from the server's side, as API Gateway closes an idle one
    page_side, server_side = routes[0]
    server_side.close(code=1001, reason="Going away")
    page_side.close(code=1001, reason="Going away")
    # Then the page polls, then opens another socket with a new ticket, and is live again
    page.wait_for_function(
        "() => window.badgeStates.join(' ').endsWith('polling live')", timeout=30_000
    )
    assert len(routes) == 2
    assert routes[0][0].url != routes[1][0].url
    page.close()
