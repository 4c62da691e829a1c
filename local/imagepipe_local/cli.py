"""The `imagepipe` command."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any


def _openapi(args: argparse.Namespace) -> int:
    from imagepipe.api.app import openapi_json
    from imagepipe.api.routes import ROUTERS

    document = openapi_json(*ROUTERS)
    if args.output == "-":
        sys.stdout.write(document)
    else:
        Path(args.output).write_text(document, encoding="utf-8")
        print(f"wrote {args.output}", file=sys.stderr)
    return 0


def _local(args: argparse.Namespace) -> int:
    from imagepipe_local.stack import StackConfig, serve

    config = StackConfig(
        host=args.host,
        api_port=args.api_port,
        aws_port=args.aws_port,
        workers=args.workers,
        max_visibility_timeout=args.max_visibility_timeout,
        data_dir=Path(args.data_dir) if args.data_dir else None,
        processing_timeout=args.processing_timeout,
        webhook_url=args.webhook_url,
        fault_rate=args.fault_rate,
        fault_mode=args.fault_mode,
        fault_seed=args.fault_seed,
        auth=args.auth,
        verbose=args.verbose,
        cdn=not args.no_cdn,
    )
    return serve(config)


def _token(args: argparse.Namespace) -> int:
    from imagepipe_local.client import TokenError, request_token

    try:
        print(request_token(args.api.rstrip("/"), args.sub, args.expires_in))
    except TokenError as error:
        print(f"imagepipe token: {error}", file=sys.stderr)
        return 1
    return 0


def _api_command(run: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Errors of the API commands as one line on stderr and a documented exit code; a bug too
    (its traceback only with --debug)."""

    def guarded(args: argparse.Namespace) -> int:
        from imagepipe_local.client import UNEXPECTED, CliError

        try:
            return run(args)
        except CliError as error:
            print(f"imagepipe: {error}", file=sys.stderr)
            return error.exit_code
        except KeyboardInterrupt:
            hint = ""
            if getattr(args, "command", None) == "upload":
                hint = " (run the same command again: large files resume where they stopped)"
            print(f"imagepipe: interrupted{hint}", file=sys.stderr)
            return 130
        except BrokenPipeError:
            # The reader of stdout went away (`| head`): quiet, as other Unix tools are.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 141
        except Exception as error:
            if args.debug:
                raise
            print(
                f"imagepipe: unexpected {type(error).__name__}: {error} "
                "(rerun with --debug for the traceback)",
                file=sys.stderr,
            )
            return UNEXPECTED

    return guarded


def _api(args: argparse.Namespace) -> Any:
    from imagepipe_local.client import Api

    return Api(args.api, args.token)


def _print_json(document: object) -> None:
    import json

    print(json.dumps(document, indent=2, default=str))


@_api_command
def _upload(args: argparse.Namespace) -> int:
    from imagepipe_local.upload import exit_code, expand, summary, table, upload

    paths = expand(args.files, recursive=args.recursive)
    outcomes = upload(
        paths,
        api=_api(args),
        session=args.session,
        timeout=args.timeout,
        progress=sys.stderr.isatty(),
    )
    if args.json:
        _print_json({"sessionId": args.session, "files": [o.as_json() for o in outcomes]})
    else:
        print(table(outcomes))
        print(summary(outcomes))
    return exit_code(outcomes)


@_api_command
def _ls(args: argparse.Namespace) -> int:
    from imagepipe_local.client import session_images, sessions_table

    images = list(session_images(_api(args), args.session))
    if args.json:
        _print_json({"sessionId": args.session, "images": images})
    else:
        print(sessions_table(images))
    return 0


def _positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {value!r}")
    return number


@_api_command
def _search(args: argparse.Namespace) -> int:
    from imagepipe_local.client import search_images, search_table

    results = list(search_images(_api(args), args.query, args.session, args.limit))
    if args.json:
        _print_json({"query": args.query, "sessionId": args.session, "results": results})
    else:
        print(search_table(results))
    return 0


@_api_command
def _get(args: argparse.Namespace) -> int:
    from imagepipe_local.client import USAGE, CliError, downloads, get_image, image_summary, save

    image = get_image(_api(args), args.image_id)
    saved = []
    if args.download:
        directory = Path(args.download)
        if directory.exists() and not directory.is_dir():
            raise CliError(f"{directory} is not a directory", USAGE)
        directory.mkdir(parents=True, exist_ok=True)
        for download in downloads(image, directory):
            save(download)
            saved.append(download)
    if args.json:
        _print_json(image)
    else:
        print(image_summary(image))
        for download in saved:
            print(f"{'saved':<10} {download.path} ({download.what})")
    return 0


@_api_command
def _rm(args: argparse.Namespace) -> int:
    from imagepipe_local.client import OK, REJECTED, Refused, remove

    api, done, code = _api(args), [], OK
    for image_id in args.image_ids:
        try:
            remove(api, image_id, args.session)
        except Refused as refused:
            print(f"imagepipe: {image_id}: {refused}", file=sys.stderr)
            code = REJECTED
            continue
        done.append(image_id)
        if not args.json:
            what = f"unlinked from {args.session}" if args.session else "deleted"
            print(f"{image_id} {what}")
    if args.json:
        _print_json({"session": args.session, "removed": done})
    return code


def _api_arguments(command: argparse.ArgumentParser) -> None:
    """What every API command takes: where, who, how to print, and --debug."""
    command.add_argument("--api", default="http://127.0.0.1:3000", help="the HTTP API's base URL")
    command.add_argument(
        "--token",
        default=os.environ.get("IMAGEPIPE_TOKEN"),
        help="bearer JWT for an API with the JWT authorizer (default: $IMAGEPIPE_TOKEN)",
    )
    command.add_argument(
        "--json", action="store_true", help="print one JSON document on stdout, nothing else"
    )
    command.add_argument(
        "--debug", action="store_true", help="show the traceback of an unexpected error"
    )


def _invoke(args: argparse.Namespace) -> int:
    import json

    from imagepipe_local import iam
    from imagepipe_local.invoke import FunctionRunner
    from imagepipe_local.stack import StackConfig, local_environment
    from imagepipe_local.template import Template

    iam.install()  # the function's policy applies, as on AWS
    template = Template.load()
    if args.logical_id not in template.functions:
        print(f"unknown function {args.logical_id}; one of: {', '.join(template.functions)}")
        return 2
    config = StackConfig()
    env = local_environment(config)
    env["AWS_ENDPOINT_URL"] = args.endpoint
    os.environ.update(env)
    event = json.loads(Path(args.event).read_text(encoding="utf-8"))
    result = FunctionRunner(template, extra_env=env).invoke(args.logical_id, event)
    print(json.dumps(result, indent=2, default=str))
    return 0


def _redrive(args: argparse.Namespace) -> int:
    import boto3

    from imagepipe_local.redrive import dead_letter_pairs, redrive, report, select
    from imagepipe_local.template import Template

    template = Template.load()
    try:
        pairs = select(dead_letter_pairs(template), args.queue)
    except ValueError as error:
        print(f"imagepipe redrive: {error}", file=sys.stderr)
        return 2
    if args.stack_name:
        # A deployed stack: its queues by logical id, and SQS moves the messages itself.
        cloudformation = boto3.client("cloudformation")
        sqs = boto3.client("sqs")

        def url_of(logical_id: str) -> str:
            resource = cloudformation.describe_stack_resource(
                StackName=args.stack_name, LogicalResourceId=logical_id
            )
            return str(resource["StackResourceDetail"]["PhysicalResourceId"])

        move_task = True
    else:
        # The local stack: the template's local names, moved by hand (no StartMessageMoveTask).
        from imagepipe_local.stack import StackConfig, local_environment

        env = local_environment(StackConfig())
        sqs = boto3.client(
            "sqs",
            endpoint_url=args.endpoint,
            region_name=template.names.region,
            aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        )

        def url_of(logical_id: str) -> str:
            name = template.physical_name(logical_id)
            return str(sqs.get_queue_url(QueueName=name)["QueueUrl"])

        move_task = False
    results = redrive(sqs, pairs, url_of, dry_run=args.dry_run, move_task=move_task)
    print(report(results, dry_run=args.dry_run))
    return 0


def _audit(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime, timedelta

    import boto3

    from imagepipe_local.audit import audit, dynamodb_store, summary
    from imagepipe_local.template import Template

    template = Template.load()
    if args.stack_name:
        cloudformation = boto3.client("cloudformation")
        (described,) = cloudformation.describe_stacks(StackName=args.stack_name)["Stacks"]
        outputs = {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}
        names = (
            outputs["ImagesBucketName"],
            outputs["ImagesTableName"],
            outputs["SessionImagesTableName"],
        )
        region = boto3.session.Session().region_name or template.names.region
        s3 = boto3.client("s3")
    else:
        # The local stack: its endpoint for every client, pynamodb's included.
        from imagepipe_local.stack import StackConfig, local_environment

        env = local_environment(StackConfig())
        env["AWS_ENDPOINT_URL"] = args.endpoint
        os.environ.update(env)
        names = (
            template.physical_name("ImagesBucket"),
            template.physical_name("ImagesTable"),
            template.physical_name("SessionImagesTable"),
        )
        region = template.names.region
        s3 = boto3.client("s3", region_name=region, endpoint_url=args.endpoint)
    store = dynamodb_store(s3, names[0], names[1], names[2], region)
    timeout = timedelta(seconds=args.processing_timeout)
    report = audit(store, now=datetime.now(UTC), processing_timeout=timeout)
    print(summary(report))
    return 1 if report.findings else 0


def _reindex(args: argparse.Namespace) -> int:
    import boto3

    from imagepipe_local.audit import dynamodb_store
    from imagepipe_local.reindex import chosen, send
    from imagepipe_local.template import Template

    if bool(args.image_ids) == bool(args.missing or args.all):
        print("imagepipe reindex: name images, or pass --missing or --all", file=sys.stderr)
        return 2
    template = Template.load()
    if args.stack_name:
        cloudformation = boto3.client("cloudformation")
        queue = cloudformation.describe_stack_resource(
            StackName=args.stack_name, LogicalResourceId="MetadataQueue"
        )["StackResourceDetail"]["PhysicalResourceId"]
        (described,) = cloudformation.describe_stacks(StackName=args.stack_name)["Stacks"]
        outputs = {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}
        names = (
            outputs["ImagesBucketName"],
            outputs["ImagesTableName"],
            outputs["SessionImagesTableName"],
        )
        region = boto3.session.Session().region_name or template.names.region
        s3, sqs = boto3.client("s3"), boto3.client("sqs")
    else:
        from imagepipe_local.stack import StackConfig, local_environment

        env = local_environment(StackConfig())
        env["AWS_ENDPOINT_URL"] = args.endpoint
        os.environ.update(env)
        region = template.names.region
        names = (
            template.physical_name("ImagesBucket"),
            template.physical_name("ImagesTable"),
            template.physical_name("SessionImagesTable"),
        )
        s3 = boto3.client("s3", region_name=region, endpoint_url=args.endpoint)
        sqs = boto3.client("sqs", region_name=region, endpoint_url=args.endpoint)
        queue = sqs.get_queue_url(QueueName=template.physical_name("MetadataQueue"))["QueueUrl"]
    image_ids = list(args.image_ids)
    if not image_ids:
        store = dynamodb_store(s3, *names, region)
        image_ids = chosen(store.images(), missing_only=args.missing)
    sent = send(sqs, queue, image_ids)
    print(f"{sent} reindex job(s) sent to MetadataQueue")
    return 0


def _target_arguments(command: argparse.ArgumentParser, stack_help: str) -> None:
    """--endpoint (the local stack, the default) or --stack-name (a deployed one)."""
    target = command.add_mutually_exclusive_group()
    target.add_argument(
        "--endpoint", default="http://127.0.0.1:4566", help="the local stack's AWS endpoint"
    )
    target.add_argument("--stack-name", default=None, help=stack_help)


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a fraction between 0 and 1")
    return value


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
        help="pollers per SQS-triggered function (0 holds every job in its queue)",
    )
    local.add_argument(
        "--max-visibility-timeout",
        type=int,
        default=30,
        help="cap on the queues' visibility timeouts, in seconds, so that failed jobs are retried "
        "within seconds locally (the template sizes them for Lambda)",
    )
    local.add_argument(
        "--data-dir",
        default=None,
        help="keep tables and buckets in this directory between runs (default: memory only)",
    )
    local.add_argument(
        "--processing-timeout",
        type=int,
        default=None,
        metavar="SECONDS",
        help="the template's ProcessingTimeoutSeconds (default 900): an image processing this "
        "long gets its missing jobs again, then fails with processing_timeout; the sweeper "
        "runs every third of it",
    )
    local.add_argument(
        "--webhook-url",
        default=None,
        metavar="URL",
        help="POST every lifecycle event (the EventBridge event, as JSON) to this URL, as the "
        "template's WebhookUrl does on AWS",
    )
    faults = local.add_argument_group(
        "fault injection",
        "fail a fraction of the functions' AWS calls as AWS fails them (throttling, 5xx); the "
        "browser's uploads and the stack's own polling are never touched",
    )
    faults.add_argument(
        "--fault-rate",
        type=_fraction,
        default=0.0,
        metavar="FRACTION",
        help="the fraction of calls that fail, e.g. 0.3 (default 0: none)",
    )
    faults.add_argument(
        "--fault-mode",
        choices=("before", "after", "both"),
        default="both",
        help="before: the call never reaches AWS; after: it is applied, then answered 5xx (an "
        "ambiguous write); both: either, at random (default)",
    )
    faults.add_argument(
        "--fault-seed", type=int, default=0, metavar="N", help="seed of the fault sequence"
    )
    local.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="print the handlers' own structured logs (Powertools, INFO) besides the line per "
        "invocation",
    )
    local.add_argument(
        "--auth",
        choices=["none", "jwt"],
        default="none",
        help="jwt: the routes require a bearer JWT, checked as the template's JWT authorizer "
        "does, and the stack is its issuer (keys at /.well-known/jwks.json; `imagepipe token` "
        "mints one); none (default): no authorizer, every caller is the public tenant",
    )
    local.add_argument(
        "--no-cdn",
        action="store_true",
        help="no CDN: the API returns presigned S3 URLs (default: the API port plays the "
        "template's CloudFront distribution under /cdn/, with signed URLs and a local key pair "
        "kept in --data-dir)",
    )
    local.set_defaults(func=_local)

    token = commands.add_parser(
        "token", help="print a JWT for a subject, signed by a local stack run with --auth jwt"
    )
    token.add_argument("--sub", required=True, help="the subject, which becomes the tenant")
    token.add_argument("--api", default="http://127.0.0.1:3000", help="the local stack's API")
    token.add_argument(
        "--expires-in", type=int, default=3600, metavar="SECONDS", help="lifetime (default 3600)"
    )
    token.set_defaults(func=_token)

    send = commands.add_parser(
        "upload", help="hash, presign, upload and wait for files, as the browser does"
    )
    send.add_argument("files", nargs="+", help="image files, or directories with --recursive")
    send.add_argument(
        "-r", "--recursive", action="store_true", help="send the image files under directories"
    )
    send.add_argument("--session", default=f"cli-{os.getpid()}", help="session id")
    send.add_argument(
        "--timeout",
        type=float,
        default=300.0,
        metavar="SECONDS",
        help="how long to wait for the pipeline to finish (default 300)",
    )
    _api_arguments(send)
    send.set_defaults(func=_upload)

    listing = commands.add_parser("ls", help="list a session's images, newest first")
    listing.add_argument("session", help="session id")
    _api_arguments(listing)
    listing.set_defaults(func=_ls)

    find = commands.add_parser(
        "search",
        help="find images by words: tags, description, camera, colours, filename (best first)",
    )
    find.add_argument("query", help="what to look for, e.g. 'red beach'")
    find.add_argument("--session", default=None, help="only this session's images")
    find.add_argument(
        "--limit", type=_positive_int, default=None, help="at most this many results (default all)"
    )
    _api_arguments(find)
    find.set_defaults(func=_search)

    get = commands.add_parser("get", help="show an image: status, size, variants, error")
    get.add_argument("image_id", help="the imageId")
    get.add_argument(
        "--download",
        metavar="DIR",
        help="save the original, the thumbnail and every variant into DIR",
    )
    _api_arguments(get)
    get.set_defaults(func=_get)

    delete = commands.add_parser(
        "rm", help="delete images everywhere, or with --session only unlink them from it"
    )
    delete.add_argument("image_ids", nargs="+", metavar="IMAGE_ID", help="imageIds")
    delete.add_argument("--session", default=None, help="only unlink from this session")
    _api_arguments(delete)
    delete.set_defaults(func=_rm)

    invoke = commands.add_parser(
        "invoke",
        help="run one function's handler on an event against the local stack "
        "(as `sam local invoke` does where Docker exists)",
    )
    invoke.add_argument("logical_id", help="the function's logical ID in template.yaml")
    invoke.add_argument("-e", "--event", required=True, help="event JSON file, e.g. events/…")
    invoke.add_argument(
        "--endpoint", default="http://127.0.0.1:4566", help="the local stack's AWS endpoint"
    )
    invoke.set_defaults(func=_invoke)
    move = commands.add_parser(
        "redrive",
        help="move dead-lettered jobs back to the queue they came from and print what moved",
    )
    move.add_argument(
        "--queue",
        default=None,
        help="a queue's logical ID (the dead-letter queue or its source); default: every one",
    )
    move.add_argument("--dry-run", action="store_true", help="only count what would move")
    _target_arguments(
        move,
        "a deployed stack instead (AWS credentials from the environment; SQS moves the "
        "messages with StartMessageMoveTask)",
    )
    move.set_defaults(func=_redrive)

    again = commands.add_parser(
        "reindex",
        help="make completed images' tags, description and search vector again (MetadataFunction)",
    )
    again.add_argument("image_ids", nargs="*", metavar="IMAGE_ID", help="imageIds")
    which = again.add_mutually_exclusive_group()
    which.add_argument(
        "--missing",
        action="store_true",
        help="every completed image whose record lists something missing (searchMissing)",
    )
    which.add_argument(
        "--all", action="store_true", help="every completed image (after a provider changed)"
    )
    _target_arguments(
        again, "a deployed stack instead (AWS credentials from the environment; full scan)"
    )
    again.set_defaults(func=_reindex)

    check = commands.add_parser(
        "audit",
        help="check that the bucket and the tables agree; print each inconsistency, exit 1 if any",
    )
    check.add_argument(
        "--processing-timeout",
        type=float,
        default=900,
        help="an image processing longer than this many seconds is reported (default 900, the "
        "template's ProcessingTimeoutSeconds)",
    )
    _target_arguments(check, "a deployed stack instead (read-only scans)")
    check.set_defaults(func=_audit)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
