"""The local HTTP API: requests become API Gateway v2 events for the template's handlers; the
demo page is served from the same origin."""

from __future__ import annotations

import logging
import mimetypes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

from imagepipe_local.invoke import LocalHttpApi
from imagepipe_local.template import PROJECT_ROOT

# Not under "imagepipe": that is the Powertools logger of the handlers.
log = logging.getLogger("imagepipe-local")
# The pages and their npm dependencies (Uppy's prebuilt bundle, installed by `make`, never
# committed) live in local/web, beside this package and outside the functions' CodeUri.
WEB_ROOT = PROJECT_ROOT / "local" / "web"
NODE_MODULES = WEB_ROOT / "node_modules"
VENDOR = {"/vendor/uppy/": NODE_MODULES / "uppy" / "dist"}
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


def make_server(api: LocalHttpApi, host: str, port: int) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        server_version = "imagepipe-local"

        def log_message(self, format: str, *args: object) -> None:
            log.debug("%s " + format, self.address_string(), *args)

        def do_OPTIONS(self) -> None:
            self._send(204, {}, b"")

        def do_GET(self) -> None:
            path = urlsplit(self.path).path
            if path in PAGES or path.startswith("/static/"):
                self._static(WEB_ROOT, PAGES.get(path) or path.removeprefix("/static/"))
                return
            for prefix, root in VENDOR.items():
                if path.startswith(prefix):
                    self._static(root, path.removeprefix(prefix))
                    return
            self._api()

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

        def _static(self, root: Path, name: str) -> None:
            target = (root / name).resolve()
            if root.resolve() not in target.parents or not target.is_file():
                self._send(404, {"content-type": "text/plain"}, b"not found")
                return
            kind = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
            self._send(
                200, {"content-type": kind, "cache-control": "no-store"}, target.read_bytes()
            )

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
