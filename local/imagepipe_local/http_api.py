"""The local HTTP API: requests become API Gateway v2 events for the handlers the template routes
to, and the demo pages are served from the same origin."""

from __future__ import annotations

import json
import mimetypes
import re
from collections.abc import Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from imagepipe_local import log
from imagepipe_local.events import http_api_event
from imagepipe_local.invoke import FunctionRunner
from imagepipe_local.template import PROJECT_ROOT, Route

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
CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, POST, DELETE, OPTIONS",
    "Access-Control-Allow-Headers": "content-type, authorization, x-session-id",
    "Access-Control-Max-Age": "600",
}


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


class LocalHttpApi:
    """Turns HTTP requests into API Gateway v2 events for the handler the template routes to."""

    def __init__(self, runner: FunctionRunner) -> None:
        self.runner = runner
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
        event = http_api_event(
            route_key=route.route_key,
            path=path,
            body=body,
            raw_body=raw_body,
            headers=headers,
            path_parameters=params or None,
            query=query,
            jwt_claims=jwt_claims,
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


def _file_in(root: Path, name: str) -> Path | None:
    target = (root / name).resolve()
    # Never a file outside the root, whatever `..` or a symlink says.
    return target if root.resolve() in target.parents and target.is_file() else None


def make_server(api: LocalHttpApi, host: str, port: int) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        server_version = "imagepipe-local"

        def log_message(self, format: str, *args: object) -> None:
            log.debug("%s " + format, self.address_string(), *args)

        def do_OPTIONS(self) -> None:
            self._send(204, {}, b"")

        def do_GET(self) -> None:
            path = urlsplit(self.path).path
            if not _is_static(path):
                self._api()
                return
            target = _static_file(path)
            if target is None:
                self._send(404, {"content-type": "text/plain"}, b"not found")
                return
            kind = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
            self._send(
                200, {"content-type": kind, "cache-control": "no-store"}, target.read_bytes()
            )

        def do_POST(self) -> None:
            self._api()

        def do_DELETE(self) -> None:
            self._api()

        def _api(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length).decode("utf-8", "replace") if length else None
            headers = {k.lower(): v for k, v in self.headers.items()}
            response = api.request(
                self.command,
                parts.path,
                raw_body=body,
                headers=headers,
                query=dict(parse_qsl(parts.query)) or None,
            )
            self._send(response.status, response.headers, response.body.encode())

        def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
            self.send_response(status)
            for key, value in {**headers, **CORS_HEADERS}.items():
                if key.lower() not in ("content-length", "connection", "date", "server"):
                    self.send_header(key, value)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    return server
