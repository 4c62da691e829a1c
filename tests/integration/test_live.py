"""Live updates on moto: the ticket route of the HTTP API, EventsSocketFunction's $connect and
$disconnect against the connections table, and EventsNotifierFunction posting through the local
WebSocket API's management endpoint to a real socket."""

from __future__ import annotations

import json
import os
import re
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import ClientConnection, connect

from imagepipe.adapters.dynamodb import DynamoConnectionRepository
from imagepipe.api import deps
from imagepipe.domain.live import CONNECTION_LIFETIME
from imagepipe.domain.model import Connection
from imagepipe.pipeline import deps as pipeline_deps
from imagepipe_local.events import websocket_event
from imagepipe_local.http_api import HttpFront, LocalHttpApi
from imagepipe_local.invoke import FunctionRunner
from imagepipe_local.template import Template
from tests.conftest import load_event
from tests.integration.helpers import items, seed_processed_image

SOCKET_FUNCTION = "EventsSocketFunction"
NOTIFIER = "EventsNotifierFunction"


def ticket_url(api: LocalHttpApi, session: str, **request: Any) -> str:
    response = api.request("POST", f"/sessions/{session}/events", **request)
    assert response.status == 200, response.body
    return str(response.json()["url"])


def ticket_of(url: str) -> str:
    return parse_qs(urlsplit(url).query)["ticket"][0]


def socket_event(aws: Template, route_key: str, connection_id: str, **extra: Any) -> dict[str, Any]:
    api_id, stage = aws.websocket_api() or ("", "")
    return websocket_event(
        route_key=route_key,
        connection_id=connection_id,
        api_id=api_id,
        stage=stage,
        region=aws.names.region,
        **extra,
    )


def bus_event(aws: Template, detail_type: str, detail: dict[str, Any]) -> dict[str, Any]:
    """An event as EventBridge hands it to a rule's function target."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": detail_type,
        "source": "imagepipe",
        "account": aws.names.account_id,
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": aws.names.region,
        "resources": [],
        "detail": detail,
    }


def connections(aws: Template) -> dict[str, dict[str, Any]]:
    return {
        item["pk"]["S"]: item
        for item in items(aws, "ConnectionsTable")
        if item["pk"]["S"].startswith("connection#")
    }


def test_the_ticket_route_gives_a_socket_url_of_the_events_api(
    api: LocalHttpApi, aws: Template
) -> None:
    # Given the HTTP API / When a caller asks for live updates of session s-1
    response = api.request("POST", "/sessions/s-1/events")
    # Then it gets the template's WebSocket URL with a ticket, and when the ticket expires
    assert response.status == 200, response.body
    body = response.json()
    assert body["url"].startswith(os.environ.get("EVENTS_URL", "wss://") + "?ticket=v1.")
    assert datetime.fromisoformat(body["expiresAt"]) > datetime.now(UTC)


def test_the_ticket_route_refuses_a_bad_session_id(api: LocalHttpApi) -> None:
    # Given a session id with a character session ids cannot have / When a ticket is asked for
    response = api.request("POST", "/sessions/bad%20id/events")
    # Then it is a 400 with a machine-readable code, not a 5xx
    assert response.status == 400, response.body
    assert response.json()["error"]["code"] == "invalid_session_id"


def test_connect_records_the_socket_for_the_tickets_tenant_and_session(
    api: LocalHttpApi, runner: FunctionRunner, aws: Template
) -> None:
    # Given a ticket asked for by the JWT subject user-1, for session s-1
    url = ticket_url(api, "s-1", jwt_claims={"sub": "user-1"})
    # When a socket connects with it
    event = socket_event(aws, "$connect", "conn-1=", query={"ticket": ticket_of(url)})
    answer = runner.invoke(SOCKET_FUNCTION, event)
    # Then the upgrade is accepted and the socket recorded for user-1's session s-1, with a TTL
    assert answer["statusCode"] == 200
    record = connections(aws)["connection#conn-1="]
    assert (record["tenant"]["S"], record["sessionId"]["S"]) == ("user-1", "s-1")
    assert record["sessionKey"]["S"] == "user-1#s-1"
    assert int(record["expiresAt"]["N"]) > datetime.now(UTC).timestamp()


@pytest.mark.parametrize("case", ["missing", "forged", "reused"])
def test_connect_refuses_a_missing_forged_or_reused_ticket(
    api: LocalHttpApi, runner: FunctionRunner, aws: Template, case: str
) -> None:
    # Given a valid ticket that already opened a socket, and the kinds of bad tickets
    token = ticket_of(ticket_url(api, "s-1"))
    first = runner.invoke(
        SOCKET_FUNCTION, socket_event(aws, "$connect", "first=", query={"ticket": token})
    )
    assert first["statusCode"] == 200
    presented = {"missing": None, "forged": token[:-4] + "AAAA", "reused": token}[case]
    query = {"ticket": presented} if presented else None
    # When a second socket presents it
    answer = runner.invoke(SOCKET_FUNCTION, socket_event(aws, "$connect", "second=", query=query))
    # Then the upgrade is refused with invalid_ticket, and only the first socket is recorded
    assert answer["statusCode"] == 401
    assert json.loads(answer["body"])["error"]["code"] == "invalid_ticket"
    assert list(connections(aws)) == ["connection#first="]


def test_disconnect_forgets_the_socket(
    api: LocalHttpApi, runner: FunctionRunner, aws: Template
) -> None:
    # Given an open socket
    token = ticket_of(ticket_url(api, "s-1"))
    runner.invoke(
        SOCKET_FUNCTION, socket_event(aws, "$connect", "conn-1=", query={"ticket": token})
    )
    # When it disconnects
    answer = runner.invoke(SOCKET_FUNCTION, socket_event(aws, "$disconnect", "conn-1="))
    # Then its record is gone
    assert answer["statusCode"] == 200
    assert connections(aws) == {}


@pytest.fixture
def live(runner: FunctionRunner) -> Iterator[HttpFront]:
    """The local API port with its WebSocket API, the functions told its URLs."""
    front = HttpFront(LocalHttpApi(runner), "127.0.0.1", 0)
    saved = {key: os.environ.get(key) for key in front.live_environment()}
    runner.extra_env.update(front.live_environment())
    runner.apply_environment()
    deps.reset()
    pipeline_deps.reset()
    front.start()
    yield front
    front.stop()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    deps.reset()
    pipeline_deps.reset()


def open_socket(live: HttpFront, session: str) -> ClientConnection:
    url = ticket_url(live.api, session)
    assert url.startswith(f"ws://127.0.0.1:{live.port}/")
    return connect(url, open_timeout=10)


def test_the_notifier_posts_each_event_to_the_sockets_of_the_images_sessions_only(
    live: HttpFront, runner: FunctionRunner, aws: Template
) -> None:
    # Given img-1 linked to session s-1, a real socket on s-1 and one on s-2
    image_id = "1" * 32
    seed_processed_image(aws, image_id=image_id, sessions=("s-1",))
    with open_socket(live, "s-1") as mine, open_socket(live, "s-2") as other:
        # When its Completed event reaches the notifier
        detail = {"imageId": image_id, "tenant": "public", "status": "completed", "error": None}
        result = runner.invoke(NOTIFIER, bus_event(aws, "Image Completed", detail))
        # Then s-1's socket gets the message through the management endpoint, s-2's nothing
        assert result == {"delivered": 1, "gone": 0}
        assert json.loads(mine.recv(timeout=10)) == {
            "type": "image.completed",
            "imageId": image_id,
            "sessionId": "s-1",
            "status": "completed",
            "error": None,
        }
        with pytest.raises(TimeoutError):
            other.recv(timeout=1)


def test_a_socket_gone_without_disconnect_is_dropped_by_the_notifier(
    live: HttpFront, runner: FunctionRunner, aws: Template
) -> None:
    # Given img-1 linked to s-1 and a recorded socket that the API no longer has (its
    # $disconnect never came)
    image_id = "2" * 32
    seed_processed_image(aws, image_id=image_id, sessions=("s-1",))
    repository = DynamoConnectionRepository(aws.physical_name("ConnectionsTable"), aws.names.region)
    now = datetime.now(UTC)
    repository.add(Connection("ghost=", "public", "s-1", now, now + CONNECTION_LIFETIME))
    # When an event for img-1 is notified
    detail = {"imageId": image_id, "tenant": "public", "status": "processing", "error": None}
    result = runner.invoke(NOTIFIER, bus_event(aws, "Image Processing", detail))
    # Then the management endpoint answered GoneException and the record is gone
    assert result == {"delivered": 0, "gone": 1}
    assert connections(aws) == {}


def test_a_socket_without_a_valid_ticket_is_refused_at_the_upgrade(live: HttpFront) -> None:
    # Given the local WebSocket URL with a forged ticket
    url = ticket_url(live.api, "s-1")
    forged = url[:-4] + "AAAA"
    # When a client opens it / Then the handshake is refused with 401, as API Gateway answers
    with pytest.raises(InvalidStatus) as refused:
        connect(forged, open_timeout=10)
    assert refused.value.response.status_code == 401


def test_closing_a_socket_sends_disconnect(live: HttpFront, aws: Template) -> None:
    # Given an open socket, recorded by $connect
    with open_socket(live, "s-1"):
        assert len(connections(aws)) == 1
    # When the client closes it / Then $disconnect removed its record
    deadline = datetime.now(UTC).timestamp() + 10
    while connections(aws) and datetime.now(UTC).timestamp() < deadline:
        time.sleep(0.05)
    assert connections(aws) == {}


def test_the_refused_connect_event_file(runner: FunctionRunner) -> None:
    # Given events/events_socket_connect_refused.json: a $connect whose ticket was signed with
    # a key that is not this stack's / When EventsSocketFunction gets it
    answer = runner.invoke(SOCKET_FUNCTION, load_event("events_socket_connect_refused.json"))
    # Then the upgrade is refused with invalid_ticket
    assert answer["statusCode"] == 401
    assert json.loads(answer["body"])["error"]["code"] == "invalid_ticket"


def test_the_disconnect_event_file(runner: FunctionRunner, aws: Template) -> None:
    # Given the socket events/events_socket_disconnect.json names, recorded
    event = load_event("events_socket_disconnect.json")
    connection_id = event["requestContext"]["connectionId"]
    now = datetime.now(UTC)
    repository = DynamoConnectionRepository(aws.physical_name("ConnectionsTable"), aws.names.region)
    repository.add(Connection(connection_id, "public", "s-1", now, now + CONNECTION_LIFETIME))
    # When EventsSocketFunction gets the event / Then the record is gone
    assert runner.invoke(SOCKET_FUNCTION, event) == {"statusCode": 200}
    assert connections(aws) == {}


def test_the_notifier_event_file(live: HttpFront, runner: FunctionRunner, aws: Template) -> None:
    # Given the image events/events_notifier_completed.json names, linked to s-1, and a real
    # socket open on s-1
    event = load_event("events_notifier_completed.json")
    image_id = event["detail"]["imageId"]
    seed_processed_image(aws, image_id=image_id, sessions=("s-1",))
    with open_socket(live, "s-1") as socket:
        # When EventsNotifierFunction gets the event
        assert runner.invoke(NOTIFIER, event) == {"delivered": 1, "gone": 0}
        # Then the socket receives image.completed for it
        message = json.loads(socket.recv(timeout=10))
        assert (message["type"], message["imageId"]) == ("image.completed", image_id)


def test_local_connection_ids_are_safe_path_segments_like_api_gateways() -> None:
    # Given a thousand ids of the local WebSocket API / When each is checked
    from imagepipe_local.sockets import _connection_id

    ids = {_connection_id() for _ in range(1000)}
    # Then each looks like API Gateway's (letters and digits, then "="), never with a "/" or
    # "+" that would split or change the management endpoint's path, and they do not repeat
    assert all(re.fullmatch(r"[A-Za-z0-9]{15}=", i) for i in ids)
    assert len(ids) == 1000
