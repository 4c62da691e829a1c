"""Shared fixtures. AWS is moto (decorator mode) built from template.yaml's own resource
properties, so tests and infrastructure cannot drift."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from moto import mock_aws

from imagepipe_local.template import Template

# Powertools reads its service name and metrics namespace when the handler module is imported:
# give the test process the template's own values, as Lambda gives them to a function.
for _key, _value in Template.load().function_environment("PresignUploadFunction").items():
    if _key.startswith("POWERTOOLS_"):
        os.environ.setdefault(_key, _value)

from imagepipe.adapters.aws import reset_clients  # noqa: E402
from imagepipe.adapters.records import bind  # noqa: E402
from imagepipe.api import deps  # noqa: E402
from imagepipe.pipeline import deps as pipeline_deps  # noqa: E402
from imagepipe.pipeline.ingest import idempotent_ingest  # noqa: E402
from imagepipe_local import iam  # noqa: E402
from imagepipe_local.http_api import LocalHttpApi  # noqa: E402
from imagepipe_local.invoke import FunctionRunner  # noqa: E402
from imagepipe_local.provision import provision  # noqa: E402
from imagepipe_local.vectors import install as install_query_vectors  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
EVENTS = ROOT / "events"
# moto ignores IAM: every AWS call of a handler run by FunctionRunner is checked against its
# template policy and its declaration in imagepipe_local/permissions.py (imagepipe_local/iam.py).
IAM = iam.install()
# moto's S3 Vectors has no QueryVectors: the local stack's, as on the local stack.
install_query_vectors()

# Credentials and settings no test may take from the developer's machine.
_TEST_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "POWERTOOLS_TRACE_DISABLED": "1",
    "POWERTOOLS_DEV": "0",
}


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_CONFIG_FILE"):
        monkeypatch.delenv(key, raising=False)
    for key, value in _TEST_ENV.items():
        monkeypatch.setenv(key, value)


@pytest.fixture(autouse=True)
def _no_iam_violations() -> Iterator[None]:
    """A call the policy refuses fails the handler; code that swallows the error (best-effort
    labels) must not hide it, so every test also ends with no violation recorded."""
    IAM.violations.clear()
    yield
    found, IAM.violations[:] = list(IAM.violations), []
    assert not found, "IAM violations:\n" + "\n".join(found)


@pytest.fixture(scope="session")
def template() -> Template:
    return Template.load()


def load_event(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EVENTS / name).read_text(encoding="utf-8"))
    return data


@pytest.fixture
def aws(template: Template) -> Iterator[Template]:
    """moto with the buckets, tables and queues of template.yaml, created as the local stack
    creates them; process caches reset around it."""
    _reset_caches()
    with mock_aws():
        # No S3 notifications: tests deliver S3 events to Ingest themselves (LocalEventSources),
        # and in decorator mode moto would also queue one for every object a test writes.
        provision(template, region=os.environ["AWS_REGION"], notifications=False)
        yield template
    _reset_caches()


def _reset_caches() -> None:
    deps.reset()
    pipeline_deps.reset()
    idempotent_ingest.cache_clear()
    reset_clients()
    bind.cache_clear()


@pytest.fixture
def runner(aws: Template) -> FunctionRunner:
    # moto has no CloudFront: the handlers hand out presigned S3 URLs here, as a stack without
    # a CDN would (tests/integration/test_cdn_urls.py sets a CDN of its own).
    return FunctionRunner(aws, extra_env={"CDN_BASE_URL": ""})


@pytest.fixture
def api(runner: FunctionRunner) -> LocalHttpApi:
    return LocalHttpApi(runner)
