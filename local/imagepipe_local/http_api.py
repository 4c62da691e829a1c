"""The local HTTP API: requests become API Gateway v2 events for the handlers the template routes
to, and the demo pages are served from the same origin."""

from __future__ import annotations

import json
import mimetypes
import re
import socket
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import uvicorn
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute
from starlette.routing import Route as AsgiRoute

from imagepipe.domain.validation import ALLOWED_CONTENT_TYPES, MAX_FILES_PER_REQUEST
from imagepipe_local import log
from imagepipe_local.authorizer import JwtAuthorizer, Refused
from imagepipe_local.events import http_api_event
from imagepipe_local.invoke import FunctionRunner
from imagepipe_local.sockets import LocalWebSocketApi
from imagepipe_local.template import PROJECT_ROOT, Route, Template

# The pages and their npm dependencies (Uppy's prebuilt bundle, installed by `make`, never
# committed) live in local/web, beside this package and outside the functions' CodeUri.
WEB_ROOT = PROJECT_ROOT / "local" / "web"
# Only the pages themselves: local/web also holds package.json and node_modules, which are
# nobody's business but npm's.
PAGE_SUFFIXES = frozenset({".html", ".js", ".css"})
VENDOR = {"/vendor/uppy/": WEB_ROOT / "node_modules" / "uppy" / "dist"}
PAGES = {
    "/": "index.html",
    "/index.html": "index.html",
    "/uppy": "uppy.html",
    "/uppy.html": "uppy.html",
}
# Sent with every response of the API port: CORS for the pages, and no keep-alive. A browser
# reusing a kept-alive connection just as the server closes it for idling races the close: with
# the CPUs busy, a demo page's POST /uploads reached the handler without its body (400
# invalid_body, about 1 run in 4). One request per connection (what http.server did) removes
# the race; a local stack does not need the saved handshakes.
CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, POST, DELETE, OPTIONS",
    "Access-Control-Allow-Headers": "content-type, authorization, x-session-id",
    "Access-Control-Max-Age": "600",
}
FRONT_HEADERS = {**CORS_HEADERS, "Connection": "close", "X-Content-Type-Options": "nosniff"}


def content_security_policy(self_origin: str, asset_origins: Sequence[str]) -> str:
    """The pages' policy: their own scripts and styles only (no inline script, no eval), images
    and uploads to and from the emulated S3 (`asset_origins`) plus the data:/blob: previews
    Uppy and the thumbnails use, and the live-updates socket on this port."""
    assets = " ".join(asset_origins)
    socket = self_origin.replace("http://", "ws://", 1)
    return "; ".join(
        [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            f"img-src 'self' data: blob: {assets}".strip(),
            f"connect-src 'self' {socket} {assets}".strip(),
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        ]
    )


def _route_pattern(path: str) -> re.Pattern[str]:
    regex = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(path))
    return re.compile(f"^{regex}$")


@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: dict[str, str]
    body: str

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


# API Gateway HTTP APIs accept request payloads up to 10 MB and answer larger ones themselves.
MAX_PAYLOAD_BYTES = 10 * 1024 * 1024
TOO_LARGE = '{"message":"Request Entity Too Large"}'


async def _body_within(request: Request, limit: int) -> bytes | None:
    """The request's body, or None past `limit` bytes (declared or sent): it is not read on."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return None
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


class LocalHttpApi:
    """Turns HTTP requests into API Gateway v2 events for the handler the template routes to,
    behind the template's JWT authorizer when one is given (`imagepipe local --auth jwt`)."""

    def __init__(self, runner: FunctionRunner, authorizer: JwtAuthorizer | None = None) -> None:
        self.runner = runner
        self.authorizer = authorizer
        self.routes = [
            (route, _route_pattern(route.path)) for route in runner.template.http_routes()
        ]

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        for route, pattern in self.routes:
            found = pattern.match(path)
            if found and route.method == method.upper():
                return route, found.groupdict()
        return None

    def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        raw_body: str | None = None,
        headers: Mapping[str, str] | None = None,
        query: Mapping[str, str] | None = None,
        jwt_claims: Mapping[str, str] | None = None,
    ) -> HttpResponse:
        matched = self.match(method, path)
        if matched is None:
            return HttpResponse(
                404, {"content-type": "application/json"}, '{"message":"Not Found"}'
            )
        route, params = matched
        scopes = None
        if self.authorizer is not None:
            try:
                grant = self.authorizer.check(
                    route.route_key, {k.lower(): v for k, v in (headers or {}).items()}
                )
            except Refused as refused:
                # API Gateway answers for the authorizer; the function never runs.
                log.info("%s refused by the JWT authorizer: %s", route.route_key, refused.reason)
                return HttpResponse(
                    refused.status,
                    {"content-type": "application/json", "www-authenticate": refused.challenge},
                    json.dumps({"message": refused.message}, separators=(",", ":")),
                )
            if grant is not None:
                jwt_claims, scopes = grant.claims, grant.scopes
        event = http_api_event(
            route_key=route.route_key,
            path=path,
            body=body,
            raw_body=raw_body,
            headers=headers,
            path_parameters=params or None,
            query=query,
            jwt_claims=jwt_claims,
            jwt_scopes=scopes,
            region=self.runner.template.names.region,
            account_id=self.runner.template.names.account_id,
        )
        return self.send(route.function, event)

    def send(self, function: str, event: Mapping[str, Any]) -> HttpResponse:
        result = self.runner.invoke(function, dict(event))
        headers = {k.lower(): str(v) for k, v in (result.get("headers") or {}).items()}
        return HttpResponse(int(result["statusCode"]), headers, result.get("body") or "")


def _is_static(path: str) -> bool:
    return path in PAGES or path.startswith(("/static/", *VENDOR))


def _static_file(path: str) -> Path | None:
    """The file a GET of a static `path` serves, if any: a page at the top of local/web or a
    file of a vendored bundle, never anything else there (package.json, node_modules)."""
    if path in PAGES or path.startswith("/static/"):
        name = PAGES.get(path) or path.removeprefix("/static/")
        is_page = "/" not in name and Path(name).suffix in PAGE_SUFFIXES
        return _file_in(WEB_ROOT, name) if is_page else None
    for prefix, root in VENDOR.items():
        if path.startswith(prefix):
            return _file_in(root, path.removeprefix(prefix))
    return None


# What the pages check before they upload (Uppy's restrictions), from the template and the
# domain's own rules, so that a file the API would refuse is refused in the browser first.
LIMITS_PATH = "/static/limits.json"


def upload_limits(template: Template) -> dict[str, Any]:
    environment = template.function_environment("PresignUploadFunction")
    return {
        "maxFileBytes": int(environment["MAX_UPLOAD_BYTES"]),
        "maxFilesPerRequest": MAX_FILES_PER_REQUEST,
        "allowedContentTypes": sorted(ALLOWED_CONTENT_TYPES),
        # Above this size the API answers a multipart upload, which the Uppy page sends in parts.
        "multipartThresholdBytes": int(environment["MULTIPART_THRESHOLD_BYTES"]),
    }


def _file_in(root: Path, name: str) -> Path | None:
    target = (root / name).resolve()
    # Never a file outside the root, whatever `..` or a symlink says.
    return target if root.resolve() in target.parents and target.is_file() else None


class HttpFront:
    """The API port: one ASGI app (Starlette) served by uvicorn on a thread, with the pages,
    the vendored Uppy bundle, CORS, the template's WebSocket API (sockets.py), and every other
    request handed to `LocalHttpApi` as an API Gateway event. The socket is bound before the
    server starts, so a busy port fails here, at once, and port 0 picks a free one (`port`
    tells which). `extra_routes` are served before the API's (the local issuer's documents)."""

    def __init__(
        self,
        api: LocalHttpApi,
        host: str,
        port: int,
        *,
        asset_origins: Sequence[str] = (),
        extra_routes: Sequence[BaseRoute] = (),
    ) -> None:
        self.api = api
        self.extra_routes = list(extra_routes)
        self._socket = socket.create_server((host, port), backlog=1024)
        self.port = int(self._socket.getsockname()[1])
        self.host = host
        self.page_policy = content_security_policy(f"http://{host}:{self.port}", asset_origins)
        found = api.runner.template.websocket_api()
        self.websockets = LocalWebSocketApi(api.runner, *found) if found else None
        config = uvicorn.Config(
            self._app(), log_level="warning", access_log=False, lifespan="off", server_header=False
        )
        self._server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    def start(self) -> HttpFront:
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [self._socket]},
            name="http-api",
            daemon=True,
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the HTTP API did not start on port {self.port}")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._socket.close()

    def _app(self) -> Starlette:
        api = self.api
        limits = upload_limits(api.runner.template)

        async def serve(request: Request) -> Response:
            # The decoded path as received: `request.url.path` goes through urlsplit, which
            # silently drops a decoded newline or tab (a path API Gateway would route as is).
            path = request.scope["path"]
            if request.method == "OPTIONS":
                return Response(status_code=204, headers=FRONT_HEADERS)
            if request.method in ("GET", "HEAD") and path == LIMITS_PATH:
                return Response(
                    json.dumps(limits),
                    200,
                    headers={"cache-control": "no-store", **FRONT_HEADERS},
                    media_type="application/json",
                )
            if request.method in ("GET", "HEAD") and _is_static(path):
                target = _static_file(path)
                if target is None:
                    return PlainTextResponse("not found", 404, headers=FRONT_HEADERS)
                kind = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
                headers = {"cache-control": "no-store", **FRONT_HEADERS}
                if target.suffix == ".html":
                    headers["content-security-policy"] = self.page_policy
                return Response(target.read_bytes(), 200, headers=headers, media_type=kind)
            body = await _body_within(request, MAX_PAYLOAD_BYTES)
            if body is None:
                return Response(
                    TOO_LARGE, 413, headers={"content-type": "application/json", **FRONT_HEADERS}
                )
            # The handlers are synchronous, as in Lambda: each call gets a worker thread.
            response = await run_in_threadpool(
                api.request,
                request.method,
                path,
                raw_body=body.decode("utf-8", "replace") if body else None,
                headers={k.lower(): v for k, v in request.headers.items()},
                query=dict(parse_qsl(request.url.query, keep_blank_values=True)) or None,
            )
            headers = {
                key: value
                for key, value in response.headers.items()
                if key.lower() not in ("content-length", "connection", "date", "server")
            }
            headers.update(FRONT_HEADERS)
            return Response(response.body.encode(), response.status, headers=headers)

        routes = self.websockets.asgi_routes() if self.websockets else []
        # Any method (TRACE, PUT...) reaches the routing below, which answers what API Gateway
        # answers for a method no route has: 404 {"message":"Not Found"}, JSON.
        methods = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"]
        catch_all = AsgiRoute("/{path:path}", serve, methods=methods)

        async def unmatched(request: Request, _: Exception) -> Response:
            # The catch-all's pattern (`.*`) cannot match a path holding a decoded newline:
            # such a request goes the same way as any other, not to Starlette's plain 404.
            return await serve(request)

        return Starlette(
            routes=[*routes, *self.extra_routes, catch_all], exception_handlers={404: unmatched}
        )

    def live_environment(self) -> dict[str, str]:
        """Where the functions find the WebSocket API locally: the URL handed to browsers and
        the management endpoint, both on this port."""
        if self.websockets is None:
            return {}
        return {
            "EVENTS_URL": self.websockets.url(self.host, self.port),
            "EVENTS_MANAGEMENT_URL": self.websockets.management_url(self.host, self.port),
        }
