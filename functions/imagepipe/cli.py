"""The `imagepipe` command."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path


def _openapi(args: argparse.Namespace) -> int:
    from imagepipe.api import images, uploads
    from imagepipe.api.app import openapi_json

    document = openapi_json(uploads.router, images.router)
    if args.output == "-":
        sys.stdout.write(document)
    else:
        Path(args.output).write_text(document, encoding="utf-8")
        print(f"wrote {args.output}", file=sys.stderr)
    return 0


def _local(args: argparse.Namespace) -> int:
    from imagepipe.local.stack import StackConfig, serve

    config = StackConfig(
        host=args.host,
        api_port=args.api_port,
        aws_port=args.aws_port,
        workers=args.workers,
        max_visibility_timeout=args.max_visibility_timeout,
    )
    return serve(config)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="imagepipe", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    openapi = commands.add_parser("openapi", help="write the HTTP API's OpenAPI document")
    openapi.add_argument("-o", "--output", default="-", help="file to write, '-' for stdout")
    openapi.set_defaults(func=_openapi)

    local = commands.add_parser(
        "local", help="run the whole pipeline on an embedded AWS (moto) with the demo page"
    )
    local.add_argument("--host", default="127.0.0.1", help="interface to listen on")
    local.add_argument("--api-port", type=int, default=3000, help="HTTP API and demo page port")
    local.add_argument("--aws-port", type=int, default=4566, help="emulated AWS endpoint port")
    local.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 2,
        help="pollers per SQS-triggered function",
    )
    local.add_argument(
        "--max-visibility-timeout",
        type=int,
        default=30,
        help="cap on the queues' visibility timeouts, in seconds, so that failed jobs are retried "
        "within seconds locally (the template sizes them for Lambda)",
    )
    local.set_defaults(func=_local)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
