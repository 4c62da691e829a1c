"""tools/check_build.py, on artifact trees shaped like `sam build`'s output."""

from __future__ import annotations

from pathlib import Path

import pytest
from tools.check_build import check, tooling_problems

from imagepipe_local.template import PROJECT_ROOT

TEMPLATE = """
Globals:
  Function:
    Runtime: python3.13
    Architectures: [arm64]
Resources:
  ApiFunction:
    Type: AWS::Serverless::Function
    Properties: {CodeUri: ApiFunction, Handler: api.handler}
  WorkFunction:
    Type: AWS::Serverless::Function
    Properties: {CodeUri: WorkFunction, Handler: work.handler, Layers: [!Ref ImagingLayer]}
  ImagingLayer:
    Type: AWS::Serverless::LayerVersion
    Properties: {ContentUri: ImagingLayer}
"""
LAYER = ["PIL/_avif", "PIL/_webp", "PIL/_imaging", "_pillow_heif"]


def touch(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")


@pytest.fixture
def build(tmp_path: Path) -> Path:
    (tmp_path / "template.yaml").write_text(TEMPLATE)
    for function, module in (("ApiFunction", "api"), ("WorkFunction", "work")):
        touch(tmp_path / function / f"{module}.py")
        touch(tmp_path / function / "imagepipe" / "__init__.py")
        touch(tmp_path / function / "pydantic_core" / "_c.cpython-313-aarch64-linux-gnu.so")
    for module in LAYER:
        touch(tmp_path / "ImagingLayer" / "python" / f"{module}.cpython-313-aarch64-linux-gnu.so")
    touch(tmp_path / "ImagingLayer" / "python" / "pillow.libs" / "libavif-1a2b.so.16")
    return tmp_path


def test_a_build_for_the_lambda_platform_passes(build: Path) -> None:
    # Given a build of Python 3.13 arm64 modules, with each handler and the layer's codecs
    # When it is checked / Then no problem is reported
    assert check(build) == []


def test_wrong_platform_missing_pieces_and_stray_files_are_each_reported(build: Path) -> None:
    # Given a build with an x86_64 module for Python 3.11, a missing handler, a layer without
    # its AVIF codec, and Pillow and node_modules inside the API function
    touch(build / "ApiFunction" / "wrapt" / "_w.cpython-311-x86_64-linux-gnu.so")
    (build / "WorkFunction" / "work.py").unlink()
    (build / "ImagingLayer" / "python" / "PIL" / "_avif.cpython-313-aarch64-linux-gnu.so").unlink()
    touch(build / "ApiFunction" / "PIL" / "__init__.py")
    touch(build / "ApiFunction" / "node_modules" / "uppy" / "x.js")

    # When the build is checked
    problems = "\n".join(check(build))

    # Then each of the five is reported, naming where it is
    assert "ApiFunction/wrapt/_w.cpython-311-x86_64-linux-gnu.so: built for ('311', 'x86_64')" in (
        problems
    )
    assert "WorkFunction: handler module work.py missing" in problems
    assert "lacks python/PIL/_avif.cpython-313-aarch64-linux-gnu.so" in problems
    assert "ApiFunction: Pillow is in the function's code" in problems
    assert "ApiFunction: node_modules in the function's code" in problems


@pytest.mark.parametrize(
    ("stray", "reported"),
    [
        ("imagepipe_local/__init__.py", "imagepipe_local (development tooling)"),
        ("moto/__init__.py", "moto (development tooling)"),
        ("moto-5.2.5.dist-info/METADATA", "moto-5.2.5.dist-info (development tooling)"),
        ("werkzeug/__init__.py", "werkzeug (development tooling)"),
        ("yaml/__init__.py", "yaml (development tooling)"),
        ("imagepipe/cli.py", "the imagepipe CLI"),
        ("bin/imagepipe", "the imagepipe CLI"),
        ("imagepipe/web/index.html", "web file imagepipe/web/index.html"),
        ("app.js", "web file app.js"),
        ("web/node_modules/uppy/package.json", "node_modules"),
    ],
)
def test_any_piece_of_the_development_tooling_fails_the_build(
    build: Path, stray: str, reported: str
) -> None:
    # Given a build whose API function also carries a piece of the tooling
    touch(build / "ApiFunction" / stray)

    # When the build is checked
    problems = check(build)

    # Then that piece, and only it, is reported for that function
    assert len(problems) == 1, problems
    assert problems[0].startswith("ApiFunction: ")
    assert reported in problems[0]


def test_the_functions_code_uri_holds_nothing_of_the_tooling() -> None:
    # Given functions/, the one CodeUri that `sam build` copies into every function
    code = PROJECT_ROOT / "functions"

    # When it is checked as an artifact would be
    problems = tooling_problems("functions/", code)

    # Then the local stack, the CLI and the pages all live elsewhere
    assert problems == []
