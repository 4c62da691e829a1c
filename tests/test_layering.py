"""The layering of functions/ (the code Lambda runs), read from the imports themselves: the
runtime never reaches into the development tooling, the domain is pure, only the adapters talk
to AWS, only imaging uses Pillow, and the API functions never load Pillow at all."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from imagepipe_local.template import PROJECT_ROOT, Template

FUNCTIONS = PROJECT_ROOT / "functions"
PACKAGE = FUNCTIONS / "imagepipe"
TOOLING = ("imagepipe_local", "moto", "yaml", "requests", "werkzeug", "pytest", "playwright")
AWS_SDKS = ("boto3", "botocore", "pynamodb")
PILLOW = ("PIL", "pillow_heif")
# CloudFront URL signing: loaded on the first request of a function that signs, never at import.
SIGNING = ("rsa", "pyasn1")
# boto3 and its S3 transfer manager: the functions make botocore's clients (adapters/aws.py).
NOT_NEEDED = ("boto3", "s3transfer")


def imports_of(path: Path) -> set[str]:
    """The full dotted names of the modules a file imports (relative imports left out)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def modules_under(folder: Path) -> dict[str, set[str]]:
    return {
        str(path.relative_to(FUNCTIONS)): imports_of(path)
        for path in sorted(folder.rglob("*.py"))
        if "__pycache__" not in path.parts
    }


def importing(modules: dict[str, set[str]], roots: tuple[str, ...]) -> dict[str, list[str]]:
    found = {
        module: sorted(n for n in names if n.split(".")[0] in roots)
        for module, names in modules.items()
    }
    return {module: names for module, names in found.items() if names}


def test_nothing_lambda_runs_imports_the_development_tooling() -> None:
    # Given every module of the CodeUri
    modules = modules_under(FUNCTIONS)

    # When their imports of the tooling (the local stack, the emulator, test tools) are listed
    offenders = importing(modules, TOOLING)

    # Then there are none: the runtime never reaches back across
    assert offenders == {}


def test_the_domain_imports_only_the_standard_library_and_itself() -> None:
    # Given the domain's modules
    modules = modules_under(PACKAGE / "domain")

    # When their imports are sorted into ours and the standard library's
    outside = {
        module: sorted(
            name
            for name in names
            if not name.startswith("imagepipe.domain")
            and name.split(".")[0] not in sys.stdlib_module_names
        )
        for module, names in modules.items()
    }

    # Then nothing else is imported: no AWS SDK, no Pillow, no Powertools, no adapters
    assert {module: names for module, names in outside.items() if names} == {}


def test_only_the_adapters_talk_to_aws() -> None:
    # Given every module of the CodeUri outside the adapters
    modules = {
        module: names
        for module, names in modules_under(FUNCTIONS).items()
        if not module.startswith("imagepipe/adapters/")
    }

    # When their imports of boto3, botocore and pynamodb are listed
    offenders = importing(modules, AWS_SDKS)

    # Then there are none
    assert offenders == {}


def test_only_imaging_uses_pillow() -> None:
    # Given every module of the CodeUri outside imagepipe.imaging
    modules = {
        module: names
        for module, names in modules_under(FUNCTIONS).items()
        if not module.startswith("imagepipe/imaging/")
    }

    # When their imports of Pillow and pillow_heif are listed
    offenders = importing(modules, PILLOW)

    # Then there are none
    assert offenders == {}


API_FUNCTIONS = ["PresignUploadFunction", "ImagesApiFunction", "EventsSocketFunction"]
# The X-Ray SDK's recorder, patcher and their wrapt: loaded only when tracing is on. Powertools'
# disabled Tracer still imports the package itself, to switch the SDK off (sdk_config, ~1 ms).
XRAY_WHEN_OFF = {"aws_xray_sdk", "aws_xray_sdk.sdk_config"}
# What the Lambda runtime adds to the template's environment.
LAMBDA_RUNTIME = {"LAMBDA_TASK_ROOT": str(FUNCTIONS), "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256"}


def cold_start_modules(function: str, extra_env: dict[str, str] | None = None) -> list[str]:
    """The modules loaded by importing a function's handler module in a fresh interpreter with
    the environment the template gives it (a cold start's init)."""
    template = Template.load()
    _, handler = template.function_handler(function)
    module = handler.rsplit(".", 1)[0]
    env = {**os.environ, **template.function_environment(function), "PYTHONPATH": str(FUNCTIONS)}
    env.update(extra_env or {})
    script = f"import json, sys, {module}; print(json.dumps(sorted(sys.modules)))"
    output = subprocess.run(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-c", script],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        cwd=FUNCTIONS,
    ).stdout
    loaded: list[str] = json.loads(output.splitlines()[-1])
    assert module in loaded
    return loaded


@pytest.mark.parametrize("function", API_FUNCTIONS)
def test_the_api_functions_never_load_pillow(function: str) -> None:
    # Given an API function's handler module, imported in a fresh interpreter with the
    # environment the template gives it (a cold start)
    # When the modules it loaded are listed
    loaded = cold_start_modules(function)

    # Then Pillow is not among them (its import would cost every cold start)
    assert [name for name in loaded if name.split(".")[0] in PILLOW] == []
    # And neither is the RSA signer of CDN URLs
    assert [name for name in loaded if name.split(".")[0] in SIGNING] == []
    # Nor boto3, which the functions do not use (~30 ms)
    assert [name for name in loaded if name.split(".")[0] in NOT_NEEDED] == []


@pytest.mark.parametrize("function", API_FUNCTIONS)
@pytest.mark.parametrize(
    "tracing_off",
    [
        pytest.param({**LAMBDA_RUNTIME, "POWERTOOLS_TRACE_DISABLED": "1"}, id="lambda-disabled"),
        pytest.param({"POWERTOOLS_TRACE_DISABLED": "false"}, id="outside-lambda"),
    ],
)
def test_the_api_functions_load_no_xray_sdk_when_tracing_is_off(
    function: str, tracing_off: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given tracing off: disabled on Lambda, or outside Lambda (the local stack, the tests)
    monkeypatch.delenv("LAMBDA_TASK_ROOT", raising=False)
    monkeypatch.delenv("AWS_SAM_LOCAL", raising=False)

    # When an API function's handler module is imported in a fresh interpreter
    loaded = cold_start_modules(function, tracing_off)

    # Then the X-Ray SDK's recorder and patcher are not loaded (Powertools' own disabled Tracer
    # would load them: ~20 ms on Lambda, ~250 ms outside it, where the recorder makes two
    # botocore X-Ray clients), nor wrapt, which they patch with
    assert {name for name in loaded if name.split(".")[0] == "aws_xray_sdk"} <= XRAY_WHEN_OFF
    assert "wrapt" not in loaded


@pytest.mark.parametrize("function", API_FUNCTIONS)
def test_the_api_functions_load_the_xray_sdk_when_tracing_is_on(
    function: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given tracing on, as Tracing: Active makes it on Lambda
    monkeypatch.delenv("POWERTOOLS_TRACE_DISABLED", raising=False)
    monkeypatch.delenv("AWS_SAM_LOCAL", raising=False)

    # When an API function's handler module is imported in a fresh interpreter
    loaded = cold_start_modules(function, LAMBDA_RUNTIME)

    # Then the X-Ray recorder is loaded at init, as Powertools' Tracer always did (its traces
    # are in tests/test_tracing.py)
    assert "aws_xray_sdk.core" in loaded
