"""The CLI's side of the HTTP API: one session that carries the bearer token, errors turned into
one-line `CliError`s with the exit code the README documents, and the read and delete commands
(`imagepipe ls`, `get`, `rm`). Works against the local stack and a deployed API alike."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import requests

# Exit codes (README, "The CLI"): scripts tell these cases apart.
OK = 0
UNEXPECTED = 1  # a bug: one line, and --debug shows the traceback
USAGE = 2  # bad arguments or paths (argparse uses 2 as well)
UNREACHABLE = 3  # nothing answers at --api, or it answered 5xx
REJECTED = 4  # the API refused a file or the request (400, 401, 403, 404...)
FAILED = 5  # accepted, but the upload or the processing failed, or did not end in time

PAGE_SIZE = 100  # the API's largest page


class CliError(Exception):
    """What went wrong, in one line, and the exit code that says which kind of wrong."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class Refused(CliError):
    """A 4xx: the API's error code, message and (for POST /uploads) the offending field."""

    def __init__(self, status: int, code: str, message: str, field: str | None) -> None:
        super().__init__(f"{code}: {message}", REJECTED)
        self.status, self.code, self.message, self.field = status, code, message, field


class Api:
    """The API at `base`; `token`, when given, goes to the API only (never to S3 or the CDN)."""

    def __init__(self, base: str, token: str | None = None) -> None:
        self.base = base.rstrip("/")
        self.http = requests.Session()
        if token:
            self.http.headers["Authorization"] = f"Bearer {token}"

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """The response of a 2xx; Refused for a 4xx; CliError(UNREACHABLE) otherwise."""
        try:
            response = self.http.request(method, f"{self.base}{path}", timeout=30, **kwargs)
        except requests.ConnectionError:
            raise CliError(f"no API answers at {self.base} (is it running?)", UNREACHABLE) from None
        except requests.Timeout:
            raise CliError(f"the API at {self.base} did not answer in 30 s", UNREACHABLE) from None
        except (
            requests.exceptions.InvalidURL,
            requests.exceptions.InvalidSchema,
            requests.exceptions.MissingSchema,
        ) as bad_url:
            raise CliError(f"--api {self.base}: {bad_url}", USAGE) from None
        if response.status_code < 400:
            return response
        body = _json_or_empty(response)
        # The API's own errors, or API Gateway's authorizer answer ({"message": "Unauthorized"}).
        error = body["error"] if isinstance(body.get("error"), dict) else {}
        code = str(error.get("code") or response.status_code)
        message = str(error.get("message") or body.get("message") or response.reason)
        if response.status_code >= 500:
            request_id = error.get("requestId")
            where = f" (requestId {request_id})" if request_id else ""
            raise CliError(f"the API failed: {code}: {message}{where}", UNREACHABLE)
        raise Refused(response.status_code, code, message, error.get("field"))

    def json(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        return _json_or_empty(self.call(method, path, **kwargs))


def _json_or_empty(response: requests.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _segment(value: str) -> str:
    return quote(value, safe="")


# --- imagepipe ls / get / rm ---------------------------------------------------------------


def session_images(api: Api, session: str) -> Iterator[dict[str, Any]]:
    """Every image of the session, newest first, over all pages."""
    token: str | None = None
    while True:
        params: dict[str, Any] = {"limit": PAGE_SIZE}
        if token:
            params["nextToken"] = token
        page = api.json("GET", f"/sessions/{_segment(session)}/images", params=params)
        yield from page.get("images") or []
        token = page.get("nextToken")
        if not token:
            return


def search_images(
    api: Api, query: str, session: str | None = None, limit: int | None = None
) -> Iterator[dict[str, Any]]:
    """The tenant's (or session's) images found by `query`, best first, over all pages (or
    the first `limit`)."""
    token: str | None = None
    given = 0
    while True:
        params: dict[str, Any] = {"q": query, "limit": PAGE_SIZE}
        if session:
            params["sessionId"] = session
        if token:
            params["nextToken"] = token
        page = api.json("GET", "/search", params=params)
        for result in page.get("results") or []:
            if limit is not None and given >= limit:
                return
            given += 1
            yield result
        token = page.get("nextToken")
        if not token:
            return


def search_table(results: list[dict[str, Any]]) -> str:
    rows = [("imageId", "score", "filename", "tags")]
    rows += [
        (
            str(r.get("imageId", "")),
            f"{float(r.get('score') or 0):.3f}",
            str(r.get("filename", "")),
            ", ".join(str(t) for t in r.get("tags") or []),
        )
        for r in results
    ]
    return columns(rows)


def get_image(api: Api, image_id: str) -> dict[str, Any]:
    return api.json("GET", f"/images/{_segment(image_id)}")


def remove(api: Api, image_id: str, session: str | None) -> None:
    """The image everywhere, or (with a session) only its link to that session."""
    if session:
        api.call("DELETE", f"/sessions/{_segment(session)}/images/{_segment(image_id)}")
    else:
        api.call("DELETE", f"/images/{_segment(image_id)}")


@dataclass(frozen=True)
class Download:
    what: str  # original, thumbnail, or the variant's name and format
    url: str
    path: Path


def downloads(image: dict[str, Any], directory: Path) -> list[Download]:
    """The image's objects, each saved under its key's own (immutable, id-bearing) name."""
    wanted: list[tuple[str, dict[str, Any] | None]] = [("original", image.get("original"))]
    wanted.append(("thumbnail", image.get("thumbnail")))
    for variant in image.get("variants") or []:
        wanted.append((f"{variant.get('name')} {variant.get('format')}", variant))
    found = []
    for what, item in wanted:
        if not item or not item.get("url"):
            continue
        name = Path(str(item.get("key") or "")).name or _name_from_url(item["url"], what)
        found.append(Download(what, item["url"], directory / name))
    return found


def _name_from_url(url: str, what: str) -> str:
    tail = url.split("?")[0].rstrip("/").rsplit("/", 1)[-1]
    return re.sub(r"[^A-Za-z0-9._-]", "_", tail) or what.replace(" ", "_")


def save(download: Download) -> None:
    """GET the URL (a CDN or presigned URL: no token) into the file."""
    try:
        response = requests.get(download.url, timeout=60)
    except requests.RequestException as error:
        raise CliError(f"could not fetch the {download.what}: {error}", UNREACHABLE) from None
    if response.status_code != 200:
        raise CliError(
            f"could not fetch the {download.what}: {response.status_code} {response.reason}",
            UNREACHABLE if response.status_code >= 500 else REJECTED,
        )
    download.path.write_bytes(response.content)


def sessions_table(images: list[dict[str, Any]]) -> str:
    rows = [("imageId", "filename", "status", "size", "created")]
    rows += [
        (
            str(i.get("imageId", "")),
            str(i.get("filename", "")),
            str(i.get("status", "")),
            str(i.get("size", "")),
            str(i.get("createdAt", "")),
        )
        for i in images
    ]
    return columns(rows)


def image_summary(image: dict[str, Any]) -> str:
    """`imagepipe get`: the fields a person looks for, one per line."""
    error = image.get("error") or {}
    size = f"{image.get('size')} bytes, {image.get('contentType')}"
    if image.get("width"):
        size += f", {image.get('width')}x{image.get('height')}"
    lines = [
        ("imageId", image.get("imageId")),
        ("filename", image.get("filename")),
        ("status", image.get("status")),
        ("size", size),
        ("sha256", image.get("sha256")),
        ("uploaded", image.get("uploadedAt")),
        ("processed", image.get("processedAt")),
        ("error", f"{error.get('code')}: {error.get('message')}" if error else None),
        ("original", (image.get("original") or {}).get("key")),
    ]
    thumbnail = image.get("thumbnail")
    if thumbnail:
        lines.append(("thumbnail", f"{thumbnail.get('width')}x{thumbnail.get('height')} webp"))
    for variant in image.get("variants") or []:
        shape = f"{variant.get('width')}x{variant.get('height')} {variant.get('size')} bytes"
        lines.append(("variant", f"{variant.get('name')} {variant.get('format')} {shape}"))
    tags = (image.get("metadata") or {}).get("tags")
    if tags:
        lines.append(("tags", ", ".join(str(t) for t in tags)))
    return "\n".join(f"{name:<10} {value}" for name, value in lines if value not in (None, ""))


def columns(rows: Sequence[Sequence[str]]) -> str:
    """Rows as left-aligned columns, names never cut."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


class TokenError(Exception):
    """Why no token came back, in one line."""


def request_token(api: str, subject: str, expires_in: int) -> str:
    """A token for `subject` from the local stack at `api` (`imagepipe local --auth jwt`)."""
    from imagepipe_local.identity import TOKEN_PATH

    try:
        response = requests.post(
            f"{api}{TOKEN_PATH}", json={"sub": subject, "expiresIn": expires_in}, timeout=10
        )
    except requests.RequestException:
        raise TokenError(f"no local stack answers at {api}") from None
    if response.status_code == 404:
        raise TokenError(f"the stack at {api} mints no tokens: start it with --auth jwt")
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        body = {}
    if response.status_code != 200 or not isinstance(body.get("token"), str):
        error = body.get("error") or {}
        raise TokenError(f"{response.status_code} {error.get('message') or response.reason}")
    return str(body["token"])
