"""`imagepipe upload`: what a browser does, from the command line: hash, presign, POST straight
to S3 (progress shown), wait for the pipeline, print a table. Works against the local stack and
against a deployed API alike."""

from __future__ import annotations

import hashlib
import io
import mimetypes
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import requests

TERMINAL = ("completed", "failed")


@dataclass
class Outcome:
    path: Path
    image_id: str = ""
    new: bool = False
    status: str = "rejected"
    variants: int = 0
    seconds: float = 0.0
    error: str = ""


class _Progress(io.BytesIO):
    """A request body that draws a progress bar as requests reads it."""

    def __init__(self, data: bytes, label: str, out: IO[str]) -> None:
        super().__init__(data)
        self._total, self._label, self._out = len(data), label, out
        self._finished = False

    def __len__(self) -> int:
        return self._total

    def read(self, size: int | None = -1) -> bytes:
        chunk = super().read(size if size is not None and size >= 0 else -1)
        if self._finished:
            return chunk
        done = self.tell() / self._total if self._total else 1.0
        bar = "#" * int(done * 30)
        self._out.write(f"\r  {self._label[:28]:<28} [{bar:<30}] {done:6.1%}")
        if done >= 1:
            self._finished = True
            self._out.write("\n")
        self._out.flush()
        return chunk


def _multipart(
    fields: dict[str, str], filename: str, data: bytes, content_type: str
) -> tuple[bytes, str]:
    """The browser's form: every field, then the file last (S3 ignores what follows it)."""
    boundary = uuid.uuid4().hex
    parts = []
    for name, value in fields.items():
        header = f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
        parts.append(f"{header}{value}\r\n".encode())
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        f"Content-Type: {content_type}\r\n\r\n".encode()
        + data
        + b"\r\n"
    )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def upload(
    paths: Sequence[Path],
    *,
    api: str,
    session: str,
    timeout: float = 300.0,
    out: IO[str] = sys.stderr,
    token: str | None = None,
) -> list[Outcome]:
    started = time.monotonic()
    # The API's calls carry the token; the POSTs to S3 carry their presigned policy instead.
    api_calls = requests.Session()
    if token:
        api_calls.headers["Authorization"] = f"Bearer {token}"
    outcomes = [Outcome(path=p) for p in paths]
    files: list[dict[str, Any]] = []
    for path in paths:
        data = path.read_bytes()
        files.append(
            {
                "filename": path.name,
                "contentType": mimetypes.guess_type(path.name)[0] or "image/jpeg",
                "size": len(data),
                "sha256": hashlib.sha256(data).hexdigest(),
            }
        )
    response = api_calls.post(
        f"{api}/uploads", json={"sessionId": session, "files": files}, timeout=30
    )
    if response.status_code != 200:
        body = response.json()
        # The API's own errors, or API Gateway's authorizer answer ({"message": "Unauthorized"}).
        error = body.get("error") or {"code": response.status_code, "message": body.get("message")}
        for outcome in outcomes:
            outcome.error = f"{error.get('code')}: {error.get('message')}"
        return outcomes
    for outcome, spec, entry in zip(outcomes, files, response.json()["uploads"], strict=True):
        outcome.image_id, outcome.new, outcome.status = (
            entry["imageId"],
            entry["isNew"],
            entry["status"],
        )
        target = entry.get("upload")
        if target is None:
            out.write(f"  {outcome.path.name[:28]:<28} duplicate of {entry['imageId']}\n")
            continue
        body, content_type = _multipart(
            target["fields"], outcome.path.name, outcome.path.read_bytes(), str(spec["contentType"])
        )
        posted = requests.post(
            target["url"],
            data=_Progress(body, outcome.path.name, out),
            headers={"Content-Type": content_type, **target.get("headers", {})},
            timeout=120,
        )
        if posted.status_code >= 300:
            outcome.status, outcome.error = "upload refused", posted.text[:200]
    deadline = time.monotonic() + timeout
    for outcome in outcomes:
        if not outcome.image_id or outcome.error:
            continue
        while True:
            image: dict[str, Any] = api_calls.get(
                f"{api}/images/{outcome.image_id}", timeout=30
            ).json()
            outcome.status = image.get("status", "?")
            if outcome.status in TERMINAL or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        outcome.variants = len(image.get("variants") or [])
        if image.get("error"):
            outcome.error = f"{image['error']['code']}: {image['error'].get('message')}"
        outcome.seconds = time.monotonic() - started
    return outcomes


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


def table(outcomes: Sequence[Outcome]) -> str:
    rows = [("file", "imageId", "new", "status", "variants", "time", "error")]
    rows += [
        (
            o.path.name,
            o.image_id,
            "new" if o.new else "duplicate",
            o.status,
            str(o.variants),
            f"{o.seconds:.1f}s",
            o.error,
        )
        for o in outcomes
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )
