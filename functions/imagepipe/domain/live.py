"""Live updates: a browser follows its session's images over a WebSocket.

`POST /sessions/{id}/events` hands out a ticket: an HMAC-SHA256 over (tenant, session, expiry,
nonce) with a key only the functions can read, so that `$connect` checks it without a database
read; the nonce is then claimed once (a conditional write that outlives the ticket), so a ticket
opens one socket only. The socket is stored with its tenant and session, and every lifecycle
event on the bus is posted to the sockets of each session the image is linked to; a socket the
gateway reports gone is forgotten."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from imagepipe.domain.errors import DomainError, ErrorCode
from imagepipe.domain.events import EventType
from imagepipe.domain.model import Connection
from imagepipe.domain.ports import (
    Clock,
    ConnectionRepository,
    IdGenerator,
    SessionLinkRepository,
    SocketGateway,
)
from imagepipe.domain.validation import validate_session_id

# Long enough to open a socket right after asking, short enough that a leaked URL is stale.
TICKET_LIFETIME = timedelta(seconds=60)
# API Gateway closes a WebSocket after 2 hours: a record older than that is a socket long gone.
CONNECTION_LIFETIME = timedelta(hours=2)
_VERSION = "v1"
_MIN_KEY_BYTES = 32

MESSAGE_TYPES: dict[EventType, str] = {
    EventType.PROCESSING: "image.processing",
    EventType.COMPLETED: "image.completed",
    EventType.FAILED: "image.failed",
    EventType.DELETED: "image.deleted",
}


class InvalidTicket(DomainError):
    """A socket's ticket is missing, forged, expired or already used: refused at the upgrade."""

    code = ErrorCode.INVALID_TICKET


@dataclass(frozen=True)
class Ticket:
    tenant: str
    session_id: str
    expires_at: datetime
    nonce: str


@dataclass(frozen=True)
class IssuedTicket:
    url: str
    expires_at: datetime


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signature(key: bytes, payload: str) -> str:
    if len(key) < _MIN_KEY_BYTES:
        raise ValueError(f"the ticket key must have at least {_MIN_KEY_BYTES} bytes")
    return _b64(hmac.new(key, f"{_VERSION}.{payload}".encode(), hashlib.sha256).digest())


def encode_ticket(ticket: Ticket, key: bytes) -> str:
    body = {
        "t": ticket.tenant,
        "s": ticket.session_id,
        "e": int(ticket.expires_at.timestamp()),
        "n": ticket.nonce,
    }
    payload = _b64(json.dumps(body, separators=(",", ":"), sort_keys=True).encode())
    return f"{_VERSION}.{payload}.{_signature(key, payload)}"


def decode_ticket(token: str | None, key: bytes, now: datetime) -> Ticket:
    """The ticket a token carries, if its signature is ours and it has not expired."""
    if not token:
        raise InvalidTicket("a ticket is required (?ticket=...)", field="ticket")
    version, _, rest = token.partition(".")
    payload, _, signature = rest.partition(".")
    if version != _VERSION or not payload or not signature:
        raise InvalidTicket("malformed ticket", field="ticket")
    if not hmac.compare_digest(signature, _signature(key, payload)):
        raise InvalidTicket("the ticket's signature is not valid", field="ticket")
    try:
        body: Any = json.loads(_unb64(payload))
        ticket = Ticket(
            tenant=str(body["t"]),
            session_id=str(body["s"]),
            expires_at=datetime.fromtimestamp(int(body["e"]), UTC),
            nonce=str(body["n"]),
        )
    except (ValueError, KeyError, TypeError, binascii.Error) as error:  # signed but not ours
        raise InvalidTicket("malformed ticket", field="ticket") from error
    if ticket.expires_at <= now:
        raise InvalidTicket("the ticket has expired; ask for a new one", field="ticket")
    return ticket


@dataclass(frozen=True)
class TicketDeps:
    key: bytes
    clock: Clock
    new_nonce: IdGenerator
    events_url: str


def issue_ticket(tenant: str, session_id: str, deps: TicketDeps) -> IssuedTicket:
    """A socket URL for one session of one tenant, usable once within TICKET_LIFETIME."""
    session = validate_session_id(session_id)
    # Whole seconds: the token carries its expiry in seconds.
    now = deps.clock().replace(microsecond=0)
    ticket = Ticket(tenant, session, now + TICKET_LIFETIME, deps.new_nonce())
    separator = "&" if "?" in deps.events_url else "?"
    url = f"{deps.events_url}{separator}ticket={encode_ticket(ticket, deps.key)}"
    return IssuedTicket(url=url, expires_at=ticket.expires_at)


@dataclass(frozen=True)
class SocketDeps:
    key: bytes
    connections: ConnectionRepository
    clock: Clock


def connect(connection_id: str, token: str | None, deps: SocketDeps) -> Connection:
    """`$connect`: the ticket must be valid and unused; the socket is then recorded."""
    now = deps.clock()
    ticket = decode_ticket(token, deps.key, now)
    if not deps.connections.claim_ticket(ticket.nonce, ticket.expires_at):
        raise InvalidTicket("the ticket was already used; ask for a new one", field="ticket")
    connection = Connection(
        connection_id=connection_id,
        tenant=ticket.tenant,
        session_id=ticket.session_id,
        connected_at=now,
        expires_at=now + CONNECTION_LIFETIME,
    )
    deps.connections.add(connection)
    return connection


def disconnect(connection_id: str, deps: SocketDeps) -> None:
    """`$disconnect`: forget the socket (nothing to do when it was never recorded)."""
    deps.connections.remove(connection_id)


@dataclass(frozen=True)
class NotifyDeps:
    links: SessionLinkRepository
    connections: ConnectionRepository
    sockets: SocketGateway


@dataclass(frozen=True)
class Notification:
    """What reached whom: socket ids posted to, and those found gone (and forgotten)."""

    delivered: list[str]
    gone: list[str]


def message_for(detail_type: str, detail: dict[str, Any], session_id: str) -> dict[str, Any] | None:
    """The socket message of a bus event, as the design fixes it (None: not ours)."""
    try:
        kind = MESSAGE_TYPES[EventType(detail_type)]
    except ValueError:
        return None
    return {
        "type": kind,
        "imageId": detail.get("imageId"),
        "sessionId": session_id,
        "status": detail.get("status"),
        "error": detail.get("error"),
    }


def notify(detail_type: str, detail: dict[str, Any], deps: NotifyDeps) -> Notification:
    """Post a lifecycle event to every socket of every session of the image's tenant linking it.
    A deleted image's links are gone by the time its event arrives: its event names them."""
    image_id, tenant = detail.get("imageId"), detail.get("tenant")
    if not isinstance(image_id, str) or not isinstance(tenant, str):
        return Notification([], [])
    targets = set(deps.links.sessions_of(image_id))
    named = detail.get("sessionIds")
    if isinstance(named, list):
        targets |= {(tenant, s) for s in named if isinstance(s, str)}
    delivered: list[str] = []
    gone: list[str] = []
    for link_tenant, session_id in sorted(targets):
        if link_tenant != tenant:
            continue  # a session of another tenant never hears of this tenant's images
        message = message_for(detail_type, detail, session_id)
        if message is None:
            continue
        for connection_id in deps.connections.of_session(tenant, session_id):
            if deps.sockets.post(connection_id, message):
                delivered.append(connection_id)
            else:
                deps.connections.remove(connection_id)
                gone.append(connection_id)
    return Notification(delivered, gone)
