"""The live-updates WebSocket API (the template's EventsApi) on the local API port.

A browser opens `ws://<host>:<api-port>/<stage>?ticket=...`: the upgrade becomes the `$connect`
event API Gateway would send to the route's function, and anything but a 200 answer refuses
the upgrade with that status, as API Gateway does. Handlers post to sockets through the API's
management endpoint (`EVENTS_MANAGEMENT_URL`, the apigatewaymanagementapi client):
`POST|GET|DELETE /<api-id>/<stage>/@connections/<id>` on the same port, answering a socket
that is gone with 410 GoneException. A closed socket sends `$disconnect`."""

from __future__ import annotations

import json
import secrets
import string
import time
from dataclasses import dataclass, field
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from imagepipe_local import log
from imagepipe_local.events import websocket_event
from imagepipe_local.invoke import FunctionRunner

_ID_ALPHABET = string.ascii_letters + string.digits


def _connection_id() -> str:
    # API Gateway's ids look like "L0SM9cOFvHcCIhw=": fifteen letters and digits, then "=".
    # Never "/" or "+" (base64's others): the id is a path segment of the management API.
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(15)) + "="


@dataclass
class _Socket:
    websocket: WebSocket
    connected_at: float
    source_ip: str
    user_agent: str
    last_active: float = field(default_factory=time.time)


class LocalWebSocketApi:
    def __init__(self, runner: FunctionRunner, api_id: str, stage: str) -> None:
        self.runner = runner
        self.api_id = api_id
        self.stage = stage
        self.routes = runner.template.websocket_routes()
        # Only touched on the server's event loop.
        self._sockets: dict[str, _Socket] = {}

    def url(self, host: str, port: int) -> str:
        return f"ws://{host}:{port}/{self.stage}"

    def management_url(self, host: str, port: int) -> str:
        return f"http://{host}:{port}/{self.api_id}/{self.stage}"

    def asgi_routes(self) -> list[BaseRoute]:
        return [
            WebSocketRoute(f"/{self.stage}", self._serve),
            Route(
                f"/{self.api_id}/{self.stage}/@connections/{{connection_id}}",
                self._manage,
                methods=["POST", "GET", "DELETE"],
            ),
        ]

    def _event(self, route_key: str, connection_id: str, **extra: Any) -> dict[str, Any]:
        return websocket_event(
            route_key=route_key,
            connection_id=connection_id,
            api_id=self.api_id,
            stage=self.stage,
            region=self.runner.template.names.region,
            **extra,
        )

    async def _invoke(self, route_key: str, event: dict[str, Any]) -> int:
        function = self.routes.get(route_key)
        if function is None:
            return 200  # no integration for the route: API Gateway lets it through
        try:
            result = await run_in_threadpool(self.runner.invoke, function, event)
        except Exception:
            log.exception("%s of the WebSocket API", route_key)
            return 500
        return int((result or {}).get("statusCode", 200))

    async def _serve(self, websocket: WebSocket) -> None:
        connection_id = _connection_id()
        client = websocket.client
        source_ip = client.host if client else "127.0.0.1"
        headers = {k.lower(): v for k, v in websocket.headers.items()}
        status = await self._invoke(
            "$connect",
            self._event(
                "$connect",
                connection_id,
                query=dict(websocket.query_params) or None,
                headers=headers,
                source_ip=source_ip,
            ),
        )
        if status != 200:
            # Refused at the upgrade, with the function's status, as API Gateway does.
            await websocket.send_denial_response(Response(status_code=status))
            return
        connected_at = time.time()
        self._sockets[connection_id] = _Socket(
            websocket, connected_at, source_ip, headers.get("user-agent", "")
        )
        await websocket.accept()
        try:
            while True:
                # Nothing is routed from the browser (no $default route): frames are read and
                # dropped, which also notices the close.
                await websocket.receive_text()
                self._sockets[connection_id].last_active = time.time()
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            self._sockets.pop(connection_id, None)
            await self._invoke(
                "$disconnect",
                self._event("$disconnect", connection_id, connected_at=connected_at),
            )

    async def _manage(self, request: Request) -> Response:
        connection_id = request.path_params["connection_id"]
        socket = self._sockets.get(connection_id)
        if socket is None:
            return _gone(connection_id)
        if request.method == "GET":
            return JSONResponse(
                {
                    "ConnectedAt": _iso(socket.connected_at),
                    "LastActiveAt": _iso(socket.last_active),
                    "Identity": {"SourceIp": socket.source_ip, "UserAgent": socket.user_agent},
                }
            )
        if request.method == "DELETE":
            self._sockets.pop(connection_id, None)
            await socket.websocket.close()
            return Response(status_code=204)
        data = await request.body()
        try:
            await socket.websocket.send_text(data.decode("utf-8"))
        except Exception:  # closed meanwhile
            self._sockets.pop(connection_id, None)
            return _gone(connection_id)
        return Response(status_code=200)


def _gone(connection_id: str) -> Response:
    body = json.dumps({"message": f"connection {connection_id} is gone"})
    return Response(
        body,
        status_code=410,
        headers={"x-amzn-errortype": "GoneException"},
        media_type="application/json",
    )


def _iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(epoch))
