"""`imagepipe local --webhook-url`: every lifecycle event of an upload is POSTed to the URL, as
the template's EventBridge API destination does on AWS."""

from __future__ import annotations

import io
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from PIL import Image

from tests.e2e.conftest import RunningStack, local_only, local_stack
from tests.e2e.test_local_stack import _presign_and_post, wait_for

pytestmark = [pytest.mark.e2e, local_only]


class Receiver:
    """A webhook endpoint that keeps what it was POSTed; the first call answers 500, so the
    forwarder has to try again."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.calls = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                receiver.calls += 1
                if receiver.calls == 1:
                    self.send_response(500)
                else:
                    receiver.events.append(json.loads(body))
                    self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    running = Receiver()
    yield running
    running.server.shutdown()


@pytest.fixture(scope="module")
def hooked(tmp_path_factory: pytest.TempPathFactory, receiver: Receiver) -> Iterator[RunningStack]:
    log = tmp_path_factory.mktemp("hooked") / "imagepipe-local.log"
    with local_stack(log, "--webhook-url", receiver.url) as running:
        yield running


def test_the_webhook_gets_processing_then_completed(
    hooked: RunningStack, receiver: Receiver
) -> None:
    # Given a stack that POSTs lifecycle events to a webhook (which fails its first call)
    buffer = io.BytesIO()
    Image.effect_noise((400, 300), 35).convert("RGB").save(buffer, "JPEG", quality=88)

    # When a photo is uploaded and completes
    entry = _presign_and_post(hooked, buffer.getvalue(), "e2e-hook")
    assert wait_for(hooked, entry["imageId"])["status"] == "completed"

    # Then the webhook received Image Processing and Image Completed for it, the refused first
    # call included (tried again)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        mine = [e for e in receiver.events if e["detail"]["imageId"] == entry["imageId"]]
        if len(mine) >= 2:
            break
        time.sleep(0.5)
    assert sorted(e["detail-type"] for e in mine) == ["Image Completed", "Image Processing"]
    assert all(e["source"] == "imagepipe" for e in mine)
    assert receiver.calls == len(receiver.events) + 1
