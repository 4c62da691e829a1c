"""The stack under test: `imagepipe local` in its own process on free ports, as a user runs it;
or, with AWS_SAM_STACK_NAME set, a stack deployed with `sam deploy` (its outputs give the API
URL and the bucket; IMAGEPIPE_TOKEN, if set, is sent as the bearer token for a JWT-protected
API). Tests that need the local stack's own parts are marked `local_only`. The browser tests'
chromium and photos are here too, for every module that drives the pages."""

from __future__ import annotations

import io
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from PIL import Image

from imagepipe_local.template import Template
from tests.photos import photo

ROOT = Path(__file__).resolve().parents[2]
DEPLOYED_STACK = os.environ.get("AWS_SAM_STACK_NAME", "")
local_only = pytest.mark.skipif(
    bool(DEPLOYED_STACK),
    reason="needs the local stack's own parts (moto endpoint, demo pages, imagepipe invoke)",
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class RunningStack:
    api: str
    aws: str  # the local AWS endpoint; "" for a deployed stack
    log: Path | None
    bucket: str
    http: requests.Session  # sends IMAGEPIPE_TOKEN as a bearer token when set
    deployed_s3: Any = None

    def client(self, service: str) -> Any:
        """A client of the local stack's AWS endpoint."""
        assert self.aws, "a deployed stack has no local endpoint"
        return boto3.session.Session().client(
            service,  # type: ignore[call-overload]
            endpoint_url=self.aws,
            region_name="us-east-1",
            aws_access_key_id="local",
            aws_secret_access_key="local",
        )

    def s3(self) -> Any:
        return self.deployed_s3 if self.deployed_s3 is not None else self.client("s3")


def _session() -> requests.Session:
    session = requests.Session()
    if token := os.environ.get("IMAGEPIPE_TOKEN"):
        session.headers["Authorization"] = f"Bearer {token}"
    return session


def deployed_stack(name: str) -> RunningStack:
    # Clients made now, with the deployer's credentials and region: every test then runs with
    # fake ones (tests/conftest.py), so that no other test can reach a real account.
    (described,) = boto3.client("cloudformation").describe_stacks(StackName=name)["Stacks"]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}
    return RunningStack(
        api=outputs["ApiUrl"].rstrip("/"),
        aws="",
        log=None,
        bucket=outputs["ImagesBucketName"],
        http=_session(),
        deployed_s3=boto3.client("s3"),
    )


@contextmanager
def local_stack(log: Path, *extra: str) -> Iterator[RunningStack]:
    """`imagepipe local` in its own process on free ports, until the block ends."""
    api_port, aws_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    command = [
        sys.executable,
        "-m",
        "imagepipe_local.cli",
        "local",
        "--api-port",
        str(api_port),
        "--aws-port",
        str(aws_port),
        "--max-visibility-timeout",
        "2",
        *extra,
    ]
    with log.open("w") as output:
        process = subprocess.Popen(  # noqa: S603 - our own command line
            command, cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT
        )
    running = RunningStack(
        api=f"http://127.0.0.1:{api_port}",
        aws=f"http://127.0.0.1:{aws_port}",
        log=log,
        bucket=Template.load().physical_name("ImagesBucket"),
        http=_session(),
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the local stack exited:\n{log.read_text()}")
            try:
                if requests.get(f"{running.api}/", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the local stack did not start:\n{log.read_text()}")
            time.sleep(0.2)
        yield running
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def imagepipe(*args: str) -> subprocess.CompletedProcess[str]:
    """The `imagepipe` command, with no token but the one it is given."""
    env = {k: v for k, v in os.environ.items() if k != "IMAGEPIPE_TOKEN"}
    return subprocess.run(  # noqa: S603 - our own command line
        [sys.executable, "-m", "imagepipe_local.cli", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    if DEPLOYED_STACK:
        yield deployed_stack(DEPLOYED_STACK)
        return
    with local_stack(tmp_path_factory.mktemp("stack") / "imagepipe-local.log") as running:
        yield running


CHROMIUM = os.environ.get("IMAGEPIPE_CHROMIUM", "/usr/bin/chromium")
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's chromium driven by Playwright. A missing browser fails the run: the browser
    tests are never skipped (`make test` installs it first when it can, or says what to)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as error:  # pragma: no cover - dev extra missing
        pytest.fail(f"playwright is not installed: {error}")
    if not (os.path.exists(CHROMIUM) or shutil.which(CHROMIUM)):
        pytest.fail(f"no browser at {CHROMIUM}: install Debian's chromium (`make chromium`)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        yield launched
        launched.close()


def photo_file(directory: Path, name: str, seed: int) -> Path:
    """A 900x600 JPEG of noise and a gradient, never the same bytes twice: each upload of a
    test is a new image, not a duplicate of another test's (or another run's, on a kept stack)."""
    image = Image.effect_noise((900, 600), 40 + seed).convert("RGB")
    gradient = Image.linear_gradient("L").resize((900, 600))
    image = Image.merge("RGB", (image.getchannel(0), gradient, image.getchannel(2)))
    # effect_noise draws from C's rand(), which starts over in every process.
    image.paste(Image.frombytes("RGB", (16, 16), os.urandom(16 * 16 * 3)), (0, 0))
    path = directory / name
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=85)
    path.write_bytes(buffer.getvalue())
    return path


def large_photo_file(directory: Path, name: str, *, jpeg: bool = False) -> Path:
    """A real photograph upscaled with fresh random noise to 17-24 MiB: above the multipart
    threshold (16 MiB), three parts of 8 MiB, far within the pixel limit, and never the same
    bytes twice (no test resumes another's upload). A PNG (3600x2400, 20 % noise), or with
    `jpeg` a JPEG (4000x2600, 30 % noise, quality 98) for pages that pick files by type."""
    size, mix = ((4000, 2600), 0.3) if jpeg else ((3600, 2400), 0.2)
    with Image.open(photo("wood-5mp.jpg" if jpeg else "sunset-12mp.jpg")) as source:
        image = source.convert("RGB").resize(size, Image.Resampling.BILINEAR)
    noise = Image.frombytes("RGB", size, os.urandom(size[0] * size[1] * 3))
    path = directory / name
    if jpeg:
        Image.blend(image, noise, mix).save(path, "JPEG", quality=98, subsampling=0)
    else:
        Image.blend(image, noise, mix).save(path, "PNG", compress_level=1)
    assert 17 * 1024 * 1024 < path.stat().st_size < 24 * 1024 * 1024, path.stat().st_size
    return path
