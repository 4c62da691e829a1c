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


@pytest.mark.parametrize("function", ["PresignUploadFunction", "ImagesApiFunction"])
def test_the_api_functions_never_load_pillow(function: str) -> None:
    # Given an API function's handler module, imported in a fresh interpreter with the
    # environment the template gives it (a cold start)
    template = Template.load()
    _, handler = template.function_handler(function)
    module = handler.rsplit(".", 1)[0]
    env = {**os.environ, **template.function_environment(function), "PYTHONPATH": str(FUNCTIONS)}
    script = f"import json, sys, {module}; print(json.dumps(sorted(sys.modules)))"

    # When the modules it loaded are listed
    output = subprocess.run(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-c", script],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        cwd=FUNCTIONS,
    ).stdout
    loaded = json.loads(output.splitlines()[-1])

    # Then Pillow is not among them (its import would cost every cold start), though the
    # handler's own package is
    assert module in loaded
    assert [name for name in loaded if name.split(".")[0] in PILLOW] == []
    # And neither is the RSA signer of CDN URLs
    assert [name for name in loaded if name.split(".")[0] in SIGNING] == []
