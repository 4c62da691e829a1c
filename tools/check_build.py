"""Check what `sam build` produced, as Lambda will load it: `python tools/check_build.py DIR`.

This machine cannot run arm64 code, so the check reads the artifacts instead: each function's
directory holds its handler and our package but no Pillow (only the imaging layer carries it)
and nothing of the development tooling (the local stack, the CLI, moto, test tools, web pages);
every compiled extension, in functions and layer alike, is built for the runtime's Python and
the template's architecture; the imaging layer has Pillow with its AVIF and WebP codecs and
pillow-heif; and each function with its layers stays under Lambda's 250 MB unzipped limit.
Exits non-zero with one line per problem.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

from imagepipe_local.template import load_template

UNZIPPED_LIMIT = 250 * 1024 * 1024  # Lambda: function + layers, unzipped
ARCH = {"arm64": "aarch64", "x86_64": "x86_64"}
EXTENSION = re.compile(r"\.cpython-(\d+)-([a-z0-9_]+)-linux-gnu\.so$")
LAYER_MODULES = ("PIL/_avif", "PIL/_webp", "PIL/_imaging", "_pillow_heif")
# Top-level names of what only development and tests use (local/, the dev extra of pyproject):
# a function that ships one of them carries the local stack, the emulator or a test tool.
TOOLING = ("imagepipe_local", "local", "tests", "moto", "werkzeug", "pytest", "playwright", "yaml")
# The demo and Uppy pages: nothing of a browser's runs in a function.
WEB_SUFFIXES = frozenset({".html", ".js", ".mjs", ".css", ".map"})


def size_of(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def extension_problems(root: Path, python: str, arch: str) -> list[str]:
    problems = []
    for so in root.rglob("*.so"):
        match = EXTENSION.search(so.name)
        if match is None:
            continue  # a vendored shared library (pillow.libs), not a Python extension
        if match.groups() != (python, arch):
            problems.append(f"{so.relative_to(root.parent)}: built for {match.groups()}")
    return problems


def tooling_problems(name: str, code: Path) -> list[str]:
    """What of the development tooling reached a function's code: the local stack's package,
    the CLI, the emulator and test tools (or their dist-info), npm packages and web files of
    ours."""
    problems = []
    for entry in sorted(code.iterdir()) if code.is_dir() else []:
        top = entry.name.split("-", 1)[0].lower() if entry.suffix == ".dist-info" else entry.stem
        if top in TOOLING:
            problems.append(f"{name}: {entry.name} (development tooling) in the function's code")
    if any(code.rglob("node_modules")):
        problems.append(f"{name}: node_modules in the function's code")
    if (code / "imagepipe" / "cli.py").exists() or (code / "bin" / "imagepipe").exists():
        problems.append(f"{name}: the imagepipe CLI in the function's code")
    ours = [*code.glob("*"), *(code / "imagepipe").rglob("*")]
    for web in sorted(p for p in ours if p.is_file() and p.suffix in WEB_SUFFIXES):
        problems.append(f"{name}: web file {web.relative_to(code)} in the function's code")
    return problems


def check(build: Path) -> list[str]:
    template = load_template(build / "template.yaml")
    globals_ = template.get("Globals", {}).get("Function", {})
    resources: dict[str, dict[str, Any]] = template["Resources"]
    problems: list[str] = []
    layers: dict[str, Path] = {}
    for name, resource in resources.items():
        if resource["Type"] == "AWS::Serverless::LayerVersion":
            layers[name] = build / resource["Properties"]["ContentUri"]
    for name, resource in resources.items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        props = {**globals_, **resource["Properties"]}
        code = build / props["CodeUri"]
        runtime = props["Runtime"].removeprefix("python").replace(".", "")
        arch = ARCH[props["Architectures"][0]]
        module = props["Handler"].rsplit(".", 1)[0]
        if not (code / f"{module}.py").is_file():
            problems.append(f"{name}: handler module {module}.py missing")
        if not (code / "imagepipe" / "__init__.py").is_file():
            problems.append(f"{name}: the imagepipe package is missing")
        problems += tooling_problems(name, code)
        if (code / "PIL").exists():
            problems.append(f"{name}: Pillow is in the function's code (it belongs in the layer)")
        problems += extension_problems(code, runtime, arch)
        total = size_of(code)
        for layer in props.get("Layers", []):
            layer_dir = layers[layer["Ref"]]
            total += size_of(layer_dir)
            for module_path in LAYER_MODULES:
                wanted = f"{module_path}.cpython-{runtime}-{arch}-linux-gnu.so"
                if not (layer_dir / "python" / wanted).is_file():
                    problems.append(f"{name}: layer {layer['Ref']} lacks python/{wanted}")
            problems += extension_problems(layer_dir, runtime, arch)
        if total > UNZIPPED_LIMIT:
            problems.append(f"{name}: {total / 2**20:.0f} MiB unzipped, over Lambda's 250 MiB")
        print(f"{name:<24} python{runtime} {arch:<8} {total / 2**20:6.1f} MiB with its layers")
    return sorted(set(problems))


def main() -> int:
    build = Path(sys.argv[1] if len(sys.argv) > 1 else ".aws-sam/build")
    problems = check(build)
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
