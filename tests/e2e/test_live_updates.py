"""Live updates end to end: a socket opened with the URL of POST /sessions/{id}/events hears of
its own session's images as they change (processing, completed, failed, deleted) and nothing of
another session's; a used or forged ticket opens nothing. Runs on the local stack, or on a
deployed one (AWS_SAM_STACK_NAME), where the URL is API Gateway's wss:// one."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from PIL import Image
from websockets.exceptions import InvalidStatus
from websockets.sync.client import ClientConnection, connect

from tests.e2e.conftest import RunningStack
from tests.e2e.test_local_stack import _presign_and_post

pytestmark = pytest.mark.e2e


def socket_url(stack: RunningStack, session: str) -> str:
    response = stack.http.post(f"{stack.api}/sessions/{session}/events", timeout=10)
    assert response.status_code == 200, response.text
    return str(response.json()["url"])


@contextmanager
def live(stack: RunningStack, session: str) -> Iterator[ClientConnection]:
    socket = connect(socket_url(stack, session), open_timeout=15)
    try:
        yield socket
    finally:
        socket.close()


def messages_until(
    socket: ClientConnection, image_id: str, final: str, timeout: float = 90
) -> list[dict[str, Any]]:
    """The messages about `image_id` up to the first of type `final`."""
    deadline = time.monotonic() + timeout
    seen: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        try:
            message = json.loads(socket.recv(timeout=max(0.1, deadline - time.monotonic())))
        except TimeoutError:
            break
        if message["imageId"] == image_id:
            seen.append(message)
            if message["type"] == final:
                return seen
    raise AssertionError(f"no {final} for {image_id} within {timeout} s; got {seen}")


def a_jpeg(seed: int, *, truncated: bool = False) -> bytes:
    buffer = io.BytesIO()
    Image.effect_noise((480 + seed, 360), 40).convert("RGB").save(buffer, "JPEG", quality=88)
    data = buffer.getvalue()
    return data[: len(data) // 2] if truncated else data


def test_a_session_socket_hears_its_image_complete_and_another_session_hears_nothing(
    stack: RunningStack,
) -> None:
    # Given a socket on session live-a and one on live-b
    with live(stack, "e2e-live-a") as mine, live(stack, "e2e-live-b") as other:
        # When a photo is uploaded to live-a and completes
        entry = _presign_and_post(stack, a_jpeg(1), "e2e-live-a")
        image_id = entry["imageId"]
        seen = messages_until(mine, image_id, "image.completed")
        # Then live-a's socket heard processing, then completed, for its session
        assert [m["type"] for m in seen] == ["image.processing", "image.completed"]
        assert {(m["sessionId"], m["error"]) for m in seen} == {("e2e-live-a", None)}
        assert seen[-1]["status"] == "completed"
        # And live-b's socket, open all along, received nothing (it would have by now: the
        # notifier posts each event to all sockets in one invocation)
        with pytest.raises(TimeoutError):
            other.recv(timeout=2)

        # When the image is deleted
        deleted = stack.http.delete(f"{stack.api}/images/{image_id}", timeout=10)
        assert deleted.status_code == 204
        # Then live-a hears it, although the session's link is gone by then
        (gone,) = messages_until(mine, image_id, "image.deleted")
        assert (gone["status"], gone["sessionId"]) == ("deleted", "e2e-live-a")


def test_a_failed_image_tells_the_socket_why(stack: RunningStack) -> None:
    # Given a socket on a session
    with live(stack, "e2e-live-fail") as socket:
        # When a truncated JPEG is uploaded to it
        entry = _presign_and_post(stack, a_jpeg(2, truncated=True), "e2e-live-fail")
        # Then the socket hears image.failed with the reason's code and message
        failed = messages_until(socket, entry["imageId"], "image.failed")[-1]
        assert failed["status"] == "failed"
        assert failed["error"]["code"] == "corrupt_image"
        assert failed["error"]["message"]


def test_a_used_or_forged_ticket_opens_no_socket(stack: RunningStack) -> None:
    # Given a URL whose ticket already opened a socket, and one with an altered signature
    url = socket_url(stack, "e2e-live-ticket")
    with connect(url, open_timeout=15):
        pass
    forged = socket_url(stack, "e2e-live-ticket")[:-4] + "AAAA"
    # When each is opened / Then the upgrade is refused with 401
    for refused_url in (url, forged):
        with pytest.raises(InvalidStatus) as refused:
            connect(refused_url, open_timeout=15)
        assert refused.value.response.status_code == 401
