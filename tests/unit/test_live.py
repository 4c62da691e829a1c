"""Live updates with in-memory fakes: tickets open one socket of one session of one tenant, for
a minute; each lifecycle event reaches the sockets of the sessions linking the image, and only
those; gone sockets are forgotten."""

from __future__ import annotations

from dataclasses import replace
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from imagepipe.domain.errors import ErrorCode, InvalidRequest
from imagepipe.domain.events import EventType, ImageEvent
from imagepipe.domain.images import delete_image
from imagepipe.domain.live import (
    CONNECTION_LIFETIME,
    TICKET_LIFETIME,
    InvalidTicket,
    NotifyDeps,
    SocketDeps,
    TicketDeps,
    connect,
    disconnect,
    issue_ticket,
    notify,
)
from imagepipe.domain.model import Connection, ImageStatus, SessionLink
from tests.contract.samples import an_image
from tests.unit.fakes import (
    FakeWorld,
    FixedClock,
    InMemoryConnections,
    InMemorySessionLinks,
    InMemorySockets,
    SequentialIds,
)

KEY = b"k" * 48
EVENTS_URL = "wss://abc123.execute-api.eu-west-1.amazonaws.com/live"


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


@pytest.fixture
def tickets(clock: FixedClock) -> TicketDeps:
    return TicketDeps(key=KEY, clock=clock, new_nonce=SequentialIds("n-"), events_url=EVENTS_URL)


@pytest.fixture
def sockets_deps(clock: FixedClock) -> SocketDeps:
    return SocketDeps(key=KEY, connections=InMemoryConnections(), clock=clock)


def ticket_of(url: str) -> str:
    return parse_qs(urlsplit(url).query)["ticket"][0]


def test_a_ticket_is_a_url_of_the_events_api_that_expires_after_a_minute(
    tickets: TicketDeps, clock: FixedClock
) -> None:
    # Given a caller of tenant t-1 / When it asks for live updates of session s-1
    issued = issue_ticket("t-1", "s-1", tickets)
    # Then it gets the WebSocket API's URL with a ticket, valid one minute from now
    assert issued.url.startswith(f"{EVENTS_URL}?ticket=v1.")
    assert issued.expires_at == clock().replace(microsecond=0) + TICKET_LIFETIME


def test_a_bad_session_id_gets_no_ticket(tickets: TicketDeps) -> None:
    # Given a session id with characters a session id cannot have / When a ticket is asked for
    with pytest.raises(InvalidRequest) as refused:
        issue_ticket("t-1", "no spaces", tickets)
    # Then the request is refused with the session id's code
    assert refused.value.code is ErrorCode.INVALID_SESSION_ID


def test_a_valid_ticket_opens_a_socket_bound_to_its_tenant_and_session(
    tickets: TicketDeps, sockets_deps: SocketDeps, clock: FixedClock
) -> None:
    # Given a ticket for tenant t-1, session s-1, used within its minute
    token = ticket_of(issue_ticket("t-1", "s-1", tickets).url)
    clock.advance(59)
    # When a socket connects with it
    connection = connect("conn-1", token, sockets_deps)
    # Then the socket is recorded for that tenant and session, until API Gateway's 2 hours
    assert (connection.tenant, connection.session_id) == ("t-1", "s-1")
    assert connection.expires_at == clock() + CONNECTION_LIFETIME
    assert sockets_deps.connections.of_session("t-1", "s-1") == ["conn-1"]


def test_a_ticket_opens_one_socket_only(tickets: TicketDeps, sockets_deps: SocketDeps) -> None:
    # Given a ticket that already opened a socket
    token = ticket_of(issue_ticket("t-1", "s-1", tickets).url)
    connect("conn-1", token, sockets_deps)
    # When a second socket presents it / Then it is refused, and only the first is recorded
    with pytest.raises(InvalidTicket, match="already used"):
        connect("conn-2", token, sockets_deps)
    assert sockets_deps.connections.of_session("t-1", "s-1") == ["conn-1"]


def test_an_expired_ticket_opens_nothing(
    tickets: TicketDeps, sockets_deps: SocketDeps, clock: FixedClock
) -> None:
    # Given a ticket used a minute after it was issued
    token = ticket_of(issue_ticket("t-1", "s-1", tickets).url)
    clock.advance(TICKET_LIFETIME.total_seconds())
    # When a socket presents it / Then it is refused as expired
    with pytest.raises(InvalidTicket, match="expired"):
        connect("conn-1", token, sockets_deps)
    assert sockets_deps.connections.of_session("t-1", "s-1") == []


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda t: None, id="missing"),
        pytest.param(lambda t: "", id="empty"),
        pytest.param(lambda t: "garbage", id="garbage"),
        pytest.param(lambda t: t.replace("v1.", "v2.", 1), id="other-version"),
        pytest.param(lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"), id="signature"),
        pytest.param(lambda t: t.rsplit(".", 1)[0] + ".", id="no-signature"),
    ],
)
def test_a_missing_or_altered_ticket_is_refused(
    tickets: TicketDeps, sockets_deps: SocketDeps, tamper: object
) -> None:
    # Given a valid ticket, altered or left out
    token = ticket_of(issue_ticket("t-1", "s-1", tickets).url)
    presented = tamper(token)  # type: ignore[operator]
    # When a socket presents it / Then it is refused with invalid_ticket and nothing is recorded
    with pytest.raises(InvalidTicket) as refused:
        connect("conn-1", presented, sockets_deps)
    assert refused.value.code is ErrorCode.INVALID_TICKET
    assert sockets_deps.connections.of_session("t-1", "s-1") == []


def test_a_ticket_for_another_session_signed_with_another_key_is_refused(
    clock: FixedClock, sockets_deps: SocketDeps
) -> None:
    # Given a well-formed ticket for session s-2 signed with a key that is not the functions'
    forger = TicketDeps(key=b"x" * 48, clock=clock, new_nonce=lambda: "n", events_url=EVENTS_URL)
    token = ticket_of(issue_ticket("t-1", "s-2", forger).url)
    # When a socket presents it / Then its signature does not verify
    with pytest.raises(InvalidTicket, match="signature"):
        connect("conn-1", token, sockets_deps)


def test_a_key_shorter_than_32_bytes_is_refused(clock: FixedClock) -> None:
    # Given a ticket key of 16 bytes / When a ticket is signed with it / Then it is an error
    weak = TicketDeps(key=b"k" * 16, clock=clock, new_nonce=lambda: "n", events_url=EVENTS_URL)
    with pytest.raises(ValueError, match="at least 32 bytes"):
        issue_ticket("t-1", "s-1", weak)


def test_disconnect_forgets_the_socket_and_is_idempotent(
    tickets: TicketDeps, sockets_deps: SocketDeps
) -> None:
    # Given an open socket
    connect("conn-1", ticket_of(issue_ticket("t-1", "s-1", tickets).url), sockets_deps)
    # When it disconnects, twice (a retried $disconnect)
    disconnect("conn-1", sockets_deps)
    disconnect("conn-1", sockets_deps)
    # Then the session has no socket left
    assert sockets_deps.connections.of_session("t-1", "s-1") == []


def _notify_world() -> tuple[NotifyDeps, InMemorySessionLinks, InMemoryConnections]:
    links, connections = InMemorySessionLinks(), InMemoryConnections()
    return NotifyDeps(links, connections, InMemorySockets()), links, connections


def _open(deps: NotifyDeps, connection_id: str, tenant: str, session_id: str) -> None:
    clock = FixedClock()
    deps.connections.add(
        Connection(connection_id, tenant, session_id, clock(), clock() + CONNECTION_LIFETIME)
    )
    deps.sockets.open(connection_id)  # type: ignore[attr-defined]


def _link(links: InMemorySessionLinks, tenant: str, session_id: str, image_id: str) -> None:
    links.link(SessionLink(tenant, session_id, image_id, FixedClock()()))


def _detail(event_type: EventType, image_id: str = "img-1", tenant: str = "t-1") -> dict[str, Any]:
    status = {EventType.PROCESSING: ImageStatus.PROCESSING}.get(event_type, ImageStatus.COMPLETED)
    image = replace(an_image(image_id, tenant=tenant), status=status)
    return ImageEvent.of(event_type, image, FixedClock()()).detail


def test_an_event_reaches_every_socket_of_every_session_linking_the_image() -> None:
    # Given img-1 linked to sessions s-1 and s-2 of t-1, with two sockets on s-1, one on s-2,
    # and a socket on s-3, which does not link it
    deps, links, _ = _notify_world()
    _link(links, "t-1", "s-1", "img-1")
    _link(links, "t-1", "s-2", "img-1")
    for connection_id, session in (("a", "s-1"), ("b", "s-1"), ("c", "s-2"), ("d", "s-3")):
        _open(deps, connection_id, "t-1", session)
    # When img-1 completes
    sent = notify(EventType.COMPLETED.value, _detail(EventType.COMPLETED), deps)
    # Then a, b and c each get one image.completed naming their own session; d gets nothing
    assert sorted(sent.delivered) == ["a", "b", "c"]
    received = deps.sockets.received  # type: ignore[attr-defined]
    assert received["a"] == [
        {
            "type": "image.completed",
            "imageId": "img-1",
            "sessionId": "s-1",
            "status": "completed",
            "error": None,
        }
    ]
    assert received["c"][0]["sessionId"] == "s-2"
    assert "d" not in received


def test_a_session_of_another_tenant_never_hears_of_the_image() -> None:
    # Given img-1 of t-1, and a session "s-1" of tenant t-2 that somehow links the same id
    deps, links, _ = _notify_world()
    _link(links, "t-2", "s-1", "img-1")
    _open(deps, "other", "t-2", "s-1")
    # When img-1 of t-1 completes / Then t-2's socket gets nothing
    sent = notify(EventType.COMPLETED.value, _detail(EventType.COMPLETED), deps)
    assert sent.delivered == []
    assert deps.sockets.received == {}  # type: ignore[attr-defined]


def test_a_failed_image_tells_its_reason() -> None:
    # Given a socket on a session linking img-1, which failed with corrupt_image
    deps, links, _ = _notify_world()
    _link(links, "t-1", "s-1", "img-1")
    _open(deps, "a", "t-1", "s-1")
    now = FixedClock()()
    image = an_image("img-1", tenant="t-1").failed(ErrorCode.CORRUPT_IMAGE, "truncated", now)
    detail = ImageEvent.of(EventType.FAILED, image, FixedClock()()).detail
    # When the Failed event is notified / Then the message carries the code and the message
    notify(EventType.FAILED.value, detail, deps)
    message = deps.sockets.received["a"][0]  # type: ignore[attr-defined]
    assert message["type"] == "image.failed"
    assert message["error"] == {"code": "corrupt_image", "message": "truncated"}


def test_a_gone_socket_is_forgotten_and_the_others_still_get_the_event() -> None:
    # Given two sockets on s-1, one of which the gateway reports gone
    deps, links, connections = _notify_world()
    _link(links, "t-1", "s-1", "img-1")
    _open(deps, "alive", "t-1", "s-1")
    _open(deps, "gone", "t-1", "s-1")
    deps.sockets.close("gone")  # type: ignore[attr-defined]
    # When an event is notified
    sent = notify(EventType.PROCESSING.value, _detail(EventType.PROCESSING), deps)
    # Then the live one got it and the gone one is no longer recorded
    assert (sent.delivered, sent.gone) == (["alive"], ["gone"])
    assert connections.of_session("t-1", "s-1") == ["alive"]


def test_events_that_are_not_lifecycle_events_reach_nobody() -> None:
    # Given a socket on a session linking img-1
    deps, links, _ = _notify_world()
    _link(links, "t-1", "s-1", "img-1")
    _open(deps, "a", "t-1", "s-1")
    # When an event of another detail-type, or one without an image, is notified
    notify("Something Else", _detail(EventType.COMPLETED), deps)
    notify(EventType.COMPLETED.value, {"tenant": "t-1"}, deps)
    # Then nothing is sent
    assert deps.sockets.received == {}  # type: ignore[attr-defined]


def test_a_deleted_image_reaches_the_sessions_that_linked_it_through_its_event() -> None:
    # Given img-1 of the public tenant linked to s-1 and s-2, with a socket on each
    world = FakeWorld()
    image, _ = world.images.create(an_image("img-1", tenant="public"))
    for session in ("s-1", "s-2"):
        _link(world.links, "public", session, image.image_id)
    # When it is deleted (its links are gone by the time the event is read)
    delete_image("public", "img-1", world.images_deps)
    (event,) = [e for e in world.events.all() if e.type is EventType.DELETED]
    assert world.links.sessions_of("img-1") == []
    deps = NotifyDeps(world.links, InMemoryConnections(), InMemorySockets())
    _open(deps, "a", "public", "s-1")
    _open(deps, "b", "public", "s-2")
    notify(EventType.DELETED.value, event.detail, deps)
    # Then both sessions' sockets hear of it, from the sessions the event names
    assert event.detail["sessionIds"] == ["s-1", "s-2"]
    received = deps.sockets.received  # type: ignore[attr-defined]
    assert [m["type"] for m in received["a"] + received["b"]] == ["image.deleted"] * 2


def test_only_deleted_events_name_sessions() -> None:
    # Given an image / When its Completed and Deleted events are made with sessions
    image, now = an_image("img-1"), FixedClock()()
    completed = ImageEvent.of(EventType.COMPLETED, image, now, ("s-1",))
    deleted = ImageEvent.of(EventType.DELETED, image, now, ("s-1",))
    # Then only the Deleted detail carries them
    assert "sessionIds" not in completed.detail
    assert deleted.detail["sessionIds"] == ["s-1"]
    assert deleted.occurred_at == now
