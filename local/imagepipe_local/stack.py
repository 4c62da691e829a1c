"""`imagepipe local`: the whole pipeline on one machine, with no AWS account and no Docker.

moto in server mode emulates S3, DynamoDB and SQS on loopback; every resource is created from
template.yaml; the HTTP API turns requests into API Gateway v2 events for the handlers; S3
notifications reach Ingest with Lambda's asynchronous semantics; a poller per SQS-triggered
function plays the event source mapping. Development tooling, never deployed."""

from __future__ import annotations

import functools
import hashlib
import io
import json
import logging
import os
import signal
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import boto3

from imagepipe_local import iam
from imagepipe_local.iam import acting_as
from imagepipe_local.invoke import FunctionRunner
from imagepipe_local.persistence import restore, snapshot
from imagepipe_local.post_policy import Refusal, check_post
from imagepipe_local.sources import LocalEventSources
from imagepipe_local.template import SqsSource, Template

# Not under "imagepipe": that is the Powertools logger of the handlers.
log = logging.getLogger("imagepipe-local")

NOTIFICATION_QUEUE = "imagepipe-local-s3-notifications"
# Lambda retries a failed asynchronous invocation twice, after about 1 and 2 minutes; locally
# the delays are shortened (the count is the same).
ASYNC_RETRY_DELAYS = (1.0, 2.0)


@dataclass
class StackConfig:
    host: str = "127.0.0.1"
    api_port: int = 3000
    aws_port: int = 4566
    workers: int = field(default_factory=lambda: os.cpu_count() or 2)
    # Caps the queues' visibility timeouts (the template's are sized for Lambda, 6x a function
    # timeout of minutes): with a cap, a failed job is retried within seconds locally.
    max_visibility_timeout: int | None = None
    async_retry_delays: tuple[float, ...] = ASYNC_RETRY_DELAYS
    region: str = "us-east-1"
    # Where tables and buckets are kept between runs; None: in memory only.
    data_dir: Path | None = None

    @property
    def aws_endpoint(self) -> str:
        return f"http://{self.host}:{self.aws_port}"

    @property
    def api_url(self) -> str:
        return f"http://{self.host}:{self.api_port}"


def local_environment(config: StackConfig) -> dict[str, str]:
    """What every handler (and every boto3 client of this process) sees locally."""
    return {
        "AWS_ENDPOINT_URL": config.aws_endpoint,
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_REGION": config.region,
        "AWS_DEFAULT_REGION": config.region,
        "POWERTOOLS_TRACE_DISABLED": "1",
        # The handlers' JSON logs and metrics stay quiet unless something goes wrong: the
        # stack prints one line per invocation instead.
        "POWERTOOLS_LOG_LEVEL": os.environ.get("IMAGEPIPE_LOG_LEVEL", "WARNING"),
        "POWERTOOLS_METRICS_DISABLED": "true",
    }


def provision(template: Template, config: StackConfig) -> None:
    """Create every bucket, table and queue of the template in the emulator."""
    region = config.region
    s3 = boto3.client("s3", region_name=region, endpoint_url=config.aws_endpoint)
    dynamodb = boto3.client("dynamodb", region_name=region, endpoint_url=config.aws_endpoint)
    sqs = boto3.client("sqs", region_name=region, endpoint_url=config.aws_endpoint)

    for queue in template.queues_in_creation_order():
        attributes = template.queue_attributes(queue)
        if config.max_visibility_timeout is not None and "VisibilityTimeout" in attributes:
            capped = min(int(attributes["VisibilityTimeout"]), config.max_visibility_timeout)
            attributes["VisibilityTimeout"] = str(capped)
        sqs.create_queue(QueueName=template.physical_name(queue), Attributes=attributes)  # type: ignore[arg-type]

    for table in template.of_type("AWS::DynamoDB::Table"):
        dynamodb.create_table(**template.table_definition(table))
        ttl = template.properties(table).get("TimeToLiveSpecification")
        if ttl:
            dynamodb.update_time_to_live(
                TableName=template.physical_name(table),
                TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": True},
            )

    notifications = sqs.create_queue(QueueName=NOTIFICATION_QUEUE)["QueueUrl"]
    notifications_arn = sqs.get_queue_attributes(
        QueueUrl=notifications, AttributeNames=["QueueArn"]
    )["Attributes"]["QueueArn"]
    for bucket in template.of_type("AWS::S3::Bucket"):
        name = template.physical_name(bucket)
        s3.create_bucket(Bucket=name)
        cors = template.resolve(template.properties(bucket).get("CorsConfiguration"))
        if cors:
            s3.put_bucket_cors(Bucket=name, CORSConfiguration={"CORSRules": _cors_rules(cors)})
        configurations = [
            {
                "Id": f"{source.function}-{source.prefix}",
                "QueueArn": notifications_arn,
                "Events": list(source.events),
                "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": source.prefix}]}},
            }
            for source in template.s3_sources()
            if source.bucket == bucket
        ]
        if configurations:
            s3.put_bucket_notification_configuration(
                Bucket=name,
                NotificationConfiguration={"QueueConfigurations": configurations},  # type: ignore[typeddict-item]
            )


def _cors_rules(cors: dict[str, Any]) -> list[Any]:
    """CloudFormation's CorsRules spelled as the S3 API wants them."""
    renamed = {"MaxAge": "MaxAgeSeconds", "ExposedHeaders": "ExposeHeaders", "Id": "ID"}
    return [{renamed.get(k, k): v for k, v in rule.items()} for rule in cors["CorsRules"]]


class EmulatedAws:
    """moto's server on loopback, plus what real S3 does on a browser POST upload and moto
    does not: the POST policy is enforced (signature, expiry, conditions, checksum, size range:
    see post_policy.py), the response carries ETag and Location, and the bucket's CORS
    ExposeHeaders are sent (without ETag a browser client cannot confirm its upload)."""

    def __init__(
        self, host: str, port: int, expose_headers: list[str], credentials: dict[str, str]
    ) -> None:
        self.host, self.port = host, port
        self.expose = ", ".join(expose_headers)
        self.credentials = credentials
        self._server: Any = None
        self._thread: threading.Thread | None = None

    def _app(self) -> Callable[..., Any]:
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

        moto = DomainDispatcherApplication(create_backend_app)
        expose = self.expose
        credentials = self.credentials
        endpoint = f"http://{self.host}:{self.port}"

        def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
            origin = environ.get("HTTP_ORIGIN")
            added: list[tuple[str, str]] = []
            if origin and expose:
                added.append(("Access-Control-Expose-Headers", expose))
            if _is_form_upload(environ):
                body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
                bucket = environ.get("PATH_INFO", "/").strip("/").split("/")[0]
                parsed = _form(environ, body)
                if isinstance(parsed, str):
                    refusal: Refusal | None = Refusal(400, "InvalidArgument", parsed)
                else:
                    fields, content = parsed
                    refusal = check_post(fields, content, bucket=bucket, secret_for=credentials.get)
                if refusal is not None:
                    log.warning("S3 POST to %s refused: %s", bucket, refusal.message)
                    headers = [("Content-Type", "application/xml")]
                    if origin:
                        headers.append(("Access-Control-Allow-Origin", origin))
                    start_response(f"{refusal.status} Refused", headers)
                    return [refusal.xml()]
                environ["wsgi.input"] = io.BytesIO(body)
                added += [
                    ("ETag", f'"{hashlib.md5(content).hexdigest()}"'),  # noqa: S324 - S3's ETag
                    ("Location", f"{endpoint}/{bucket}/{quote(fields.get('key', ''))}"),
                ]
            if not added:
                return moto(environ, start_response)

            def start(status: str, headers: list[tuple[str, str]], *exc: Any) -> Any:
                names = {name.lower() for name, _ in added}
                kept = [(k, v) for k, v in headers if k.lower() not in names]
                return start_response(status, [*kept, *added], *exc)

            return moto(environ, start)

        return app

    def start(self) -> None:
        from moto.moto_server.werkzeug_app import MotoRequestHandler
        from werkzeug.serving import make_server

        self._server = make_server(
            self.host, self.port, self._app(), threaded=True, request_handler=MotoRequestHandler
        )
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


def _is_form_upload(environ: dict[str, Any]) -> bool:
    path = environ.get("PATH_INFO", "/").strip("/")
    return (
        environ.get("REQUEST_METHOD") == "POST"
        and bool(path)
        and "/" not in path
        and str(environ.get("CONTENT_TYPE", "")).lower().startswith("multipart/form-data")
    )


def _form(environ: dict[str, Any], body: bytes) -> tuple[dict[str, str], bytes] | str:
    """The form's fields and file, or why S3 would refuse its shape outright. A field given
    twice (in any case) or a second file part is refused: what is checked must be what is
    stored."""
    from werkzeug.formparser import parse_form_data

    _, form, files = parse_form_data({**environ, "wsgi.input": io.BytesIO(body)})
    names = [name.lower() for name, _ in form.items(multi=True)]
    if len(names) != len(set(names)):
        return "a form field is given more than once"
    if len(list(files.items(multi=True))) != 1 or "file" not in files:
        return "the form must carry exactly one file, in the field 'file'"
    upload = files["file"]
    return {k: str(v) for k, v in form.items()}, upload.read()


def exposed_headers(template: Template) -> list[str]:
    headers: list[str] = []
    for bucket in template.of_type("AWS::S3::Bucket"):
        cors = template.properties(bucket).get("CorsConfiguration", {})
        for rule in cors.get("CorsRules", []):
            headers += [h for h in rule.get("ExposedHeaders", []) if h not in headers]
    return headers


class LoggingRunner(FunctionRunner):
    """One log line per invocation: function, duration, outcome."""

    def invoke(self, logical_id: str, event: Any) -> Any:
        started = time.perf_counter()
        try:
            result = super().invoke(logical_id, event)
        except Exception as error:
            log.warning(
                "%s %.0f ms error %s: %s",
                logical_id,
                (time.perf_counter() - started) * 1000,
                type(error).__name__,
                error,
            )
            raise
        log.info(
            "%s %.0f ms %s",
            logical_id,
            (time.perf_counter() - started) * 1000,
            _outcome(result),
        )
        return result


def _outcome(result: Any) -> str:
    if isinstance(result, dict):
        if "statusCode" in result:
            return str(result["statusCode"])
        if "batchItemFailures" in result:
            failures = len(result["batchItemFailures"])
            return "ok" if failures == 0 else f"{failures} failed item(s)"
        if "results" in result:
            return ",".join(str(r.get("outcome")) for r in result["results"]) or "nothing"
    return "ok"


class Pipeline:
    """The background side of the local stack: S3 notifications and SQS pollers."""

    def __init__(self, runner: FunctionRunner, config: StackConfig) -> None:
        self.runner = runner
        self.config = config
        self.template = runner.template
        self.sources = LocalEventSources(runner)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._sqs = boto3.client("sqs", region_name=config.region)

    def start(self) -> None:
        self._spawn("s3-notifications", self._notifications)
        for source in self.template.sqs_sources():
            for n in range(max(1, self.config.workers)):
                self._spawn(f"{source.function}-{n}", functools.partial(self._poll_forever, source))

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)

    def _spawn(self, name: str, target: Callable[[], None]) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _poll_forever(self, source: SqsSource) -> None:
        while not self._stop.is_set():
            try:
                if self.sources.poll(source, wait_seconds=1).received == 0:
                    continue
            except Exception:  # keep polling, as an event source mapping does
                log.exception("poller of %s", source.function)
                self._stop.wait(1)

    def _notifications(self) -> None:
        url = self._sqs.get_queue_url(QueueName=NOTIFICATION_QUEUE)["QueueUrl"]
        while not self._stop.is_set():
            try:
                messages = self._sqs.receive_message(
                    QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1
                ).get("Messages", [])
            except Exception:
                log.exception("reading S3 notifications")
                self._stop.wait(1)
                continue
            for message in messages:
                self._sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
                event = json.loads(message["Body"])
                if event.get("Event") == "s3:TestEvent":
                    continue
                threading.Thread(
                    target=self.invoke_async, args=(event,), name="ingest", daemon=True
                ).start()

    def invoke_async(self, event: dict[str, Any]) -> None:
        """Lambda's asynchronous invocation: up to 2 retries, then the on-failure
        destination (IngestDeadLetterQueue) gets the invocation record."""
        from urllib.parse import unquote_plus

        records = event.get("Records") or [{}]
        key = records[0].get("s3", {}).get("object", {}).get("key")
        # A notification without a key still reaches the subscribed functions (and fails there,
        # as it would on AWS): nothing is dropped silently.
        functions = (
            self.sources.s3_functions_for(unquote_plus(key))
            if key
            else sorted({source.function for source in self.template.s3_sources()})
        )
        for function in functions:
            attempts = 1 + len(self.config.async_retry_delays)
            error: Exception | None = None
            for attempt in range(attempts):
                try:
                    self.runner.invoke(function, event)
                    error = None
                    break
                except Exception as failure:
                    error = failure
                    if attempt < len(self.config.async_retry_delays):
                        self._stop.wait(self.config.async_retry_delays[attempt])
            if error is not None:
                self._dead_letter(function, event, error, attempts)

    def _dead_letter(
        self, function: str, event: dict[str, Any], error: Exception, attempts: int
    ) -> None:
        destination = (
            self.template.properties(function)
            .get("EventInvokeConfig", {})
            .get("DestinationConfig", {})
            .get("OnFailure", {})
            .get("Destination")
        )
        if not destination:
            log.error("%s failed %d times; no on-failure destination", function, attempts)
            return
        queue = destination["Fn::GetAtt"][0]
        record = {
            "version": "1.0",
            "timestamp": datetime.now(UTC).isoformat(),
            "requestContext": {
                "requestId": str(uuid.uuid4()),
                "functionArn": f"{self.template.arn(function)}:$LATEST",
                "condition": "RetriesExhausted",
                "approximateInvokeCount": attempts,
            },
            "requestPayload": event,
            "responseContext": {
                "statusCode": 200,
                "executedVersion": "$LATEST",
                "functionError": "Unhandled",
            },
            "responsePayload": {"errorMessage": str(error), "errorType": type(error).__name__},
        }
        url = self.sources.queue_url(queue)
        # Lambda sends it with the function's role: its policy must allow it.
        with acting_as(function, self.template, caller="lambda.on_failure_destination"):
            self._sqs.send_message(QueueUrl=url, MessageBody=json.dumps(record))
        log.error("%s failed %d times: sent to %s", function, attempts, queue)


class LocalStack:
    """moto server + resources + pipeline + HTTP API; `start()` returns once all are up."""

    def __init__(self, config: StackConfig | None = None, template: Template | None = None) -> None:
        self.config = config or StackConfig()
        self.template = template or Template.load()
        self._moto: Any = None
        self._http: Any = None
        self.pipeline: Pipeline | None = None

    def start(self) -> LocalStack:
        from imagepipe_local.invoke import LocalHttpApi
        from imagepipe_local.server import make_server

        env = local_environment(self.config)
        os.environ.update(env)
        # Before any client exists: moto ignores IAM, so the functions' policies are enforced here.
        iam.install()
        self._moto = EmulatedAws(
            self.config.host,
            self.config.aws_port,
            exposed_headers(self.template),
            {env["AWS_ACCESS_KEY_ID"]: env["AWS_SECRET_ACCESS_KEY"]},
        )
        self._moto.start()
        provision(self.template, self.config)
        if self.config.data_dir is not None:
            restored = restore(self.template, self.config.data_dir, *self._clients())
            log.info("restored %d items and objects from %s", restored, self.config.data_dir)
        runner = LoggingRunner(self.template, extra_env=env)
        runner.apply_environment()
        self.pipeline = Pipeline(runner, self.config)
        self.pipeline.start()
        self._http = make_server(LocalHttpApi(runner), self.config.host, self.config.api_port)
        threading.Thread(target=self._http.serve_forever, name="http-api", daemon=True).start()
        log.info("AWS (moto) on %s", self.config.aws_endpoint)
        log.info("HTTP API and demo page on %s", self.config.api_url)
        return self

    def _clients(self) -> tuple[Any, Any]:
        endpoint, region = self.config.aws_endpoint, self.config.region
        return (
            boto3.client("s3", region_name=region, endpoint_url=endpoint),
            boto3.client("dynamodb", region_name=region, endpoint_url=endpoint),
        )

    def stop(self) -> None:
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
        if self.pipeline is not None:
            self.pipeline.stop()
        if self.config.data_dir is not None and self._moto is not None:
            snapshot(self.template, self.config.data_dir, *self._clients())
            log.info("saved tables and buckets to %s", self.config.data_dir)
        if self._moto is not None:
            self._moto.stop()

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve(config: StackConfig) -> int:
    """`imagepipe local`: run in the foreground until Ctrl-C."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    # The emulator's request log and boto's credential notices drown the one line per invocation.
    for noisy in ("werkzeug", "botocore", "aws_lambda_powertools"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    stopping = threading.Event()
    # Ctrl-C and SIGTERM (e.g. a process manager) both stop the stack cleanly, which also saves
    # --data-dir; set explicitly, since a shell may start background jobs with SIGINT ignored.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopping.set())
    stack = LocalStack(config).start()
    print(f"imagepipe local stack ready: open {config.api_url}/  (Ctrl-C stops it)", flush=True)
    try:
        while not stopping.wait(0.5):
            pass
        print("\nstopping...", flush=True)
    finally:
        stack.stop()
    return 0
