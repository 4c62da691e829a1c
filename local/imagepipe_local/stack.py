"""`imagepipe local`: the whole pipeline on one machine, with no AWS account and no Docker.

The process lifecycle only: it starts the emulated AWS (s3_front.py), creates the template's
resources there (provision.py), runs the event sources (sources.py) and the HTTP API
(http_api.py), and stops them all. Development tooling, never deployed."""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import socket
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

from imagepipe_local import faults, iam, log
from imagepipe_local.cdn import PATH as CDN_PATH
from imagepipe_local.cdn import LocalCdn
from imagepipe_local.cdn import environment as cdn_environment
from imagepipe_local.http_api import HttpFront, LocalHttpApi
from imagepipe_local.identity import JWKS_PATH, LOCAL_AUDIENCE, local_authorizer
from imagepipe_local.invoke import LoggingRunner
from imagepipe_local.persistence import restore, snapshot
from imagepipe_local.provision import provision
from imagepipe_local.s3_front import EmulatedAws, exposed_headers
from imagepipe_local.signed_urls import CdnKeys, store_private_key
from imagepipe_local.sources import ASYNC_RETRY_DELAYS, BackgroundEventSources
from imagepipe_local.template import LocalNames, Template
from imagepipe_local.webhook import WebhookForwarder


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
    # Overrides the template's ProcessingTimeoutSeconds; the sweeper then runs every third of
    # it (at most every 5 minutes, as on AWS), so that a short timeout is honoured within seconds.
    processing_timeout: int | None = None
    # Where every lifecycle event is POSTed (the template's WebhookUrl, played locally).
    webhook_url: str | None = None
    # This fraction of the functions' AWS calls fails (faults.py); 0: none.
    fault_rate: float = 0.0
    fault_mode: faults.Mode = "both"
    fault_seed: int = 0
    # "jwt": the stack is the identity provider and the API's issuer, so the template's JWT
    # authorizer guards its routes; "none": no authorizer, every caller is the public tenant.
    auth: str = "none"
    # The handlers' own structured logs (Powertools, INFO) as well as the line per invocation.
    verbose: bool = False
    # The API port plays the template's CloudFront distribution (cdn.py), private with a local
    # key pair; False: no CDN, the API returns presigned S3 URLs.
    cdn: bool = True

    @property
    def parameters(self) -> dict[str, str]:
        """Template parameters set from the command line, and the local providers of search
        (no Bedrock here: tags and embeddings from what the image and its file say)."""
        values = {"LabelsProvider": "local", "EmbeddingProvider": "local"}
        if self.processing_timeout is not None:
            values["ProcessingTimeoutSeconds"] = str(self.processing_timeout)
        if self.auth == "jwt":
            values.update(JwtIssuer=self.api_url, JwtAudience=LOCAL_AUDIENCE)
        return values

    @property
    def max_schedule_period(self) -> float | None:
        if self.processing_timeout is None:
            return None
        return max(1.0, self.processing_timeout / 3)

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
        "POWERTOOLS_LOG_LEVEL": os.environ.get(
            "IMAGEPIPE_LOG_LEVEL", "INFO" if config.verbose else "WARNING"
        ),
        "POWERTOOLS_METRICS_DISABLED": "true",
    }


class LocalStack:
    """moto server + resources + event sources + HTTP API; `start()` returns once all are up."""

    def __init__(self, config: StackConfig | None = None, template: Template | None = None) -> None:
        self.config = config or StackConfig()
        # Made (or read from --data-dir) first: its public key is a template parameter.
        self.cdn_keys = CdnKeys.load(self.config.data_dir) if self.config.cdn else None
        parameters = self.config.parameters
        if self.cdn_keys is not None:
            parameters.update(self.cdn_keys.parameters(LocalNames()))
        self.template = template or Template.load(parameters=parameters)
        self._moto: Any = None
        self._http: Any = None
        self.event_sources: BackgroundEventSources | None = None
        self.webhook: WebhookForwarder | None = None
        self.faults: faults.FaultInjector | None = None

    def start(self) -> LocalStack:
        env = local_environment(self.config)
        os.environ.update(env)
        # Before any client exists: moto ignores IAM, so the functions' policies are enforced here.
        iam.install()
        if self.config.fault_rate > 0:
            self.faults = faults.install(
                faults.FaultInjector(
                    self.config.fault_rate, self.config.fault_mode, self.config.fault_seed
                )
            )
            log.info(
                "injecting faults into %.0f%% of the functions' AWS calls (mode %s, seed %d)",
                self.config.fault_rate * 100,
                self.config.fault_mode,
                self.config.fault_seed,
            )
        self._moto = EmulatedAws(
            self.config.host,
            self.config.aws_port,
            exposed_headers(self.template),
            {env["AWS_ACCESS_KEY_ID"]: env["AWS_SECRET_ACCESS_KEY"]},
        )
        self._moto.start()
        provision(
            self.template,
            endpoint_url=self.config.aws_endpoint,
            region=self.config.region,
            max_visibility_timeout=self.config.max_visibility_timeout,
        )
        if self.cdn_keys is not None:
            manager = boto3.client(
                "secretsmanager",
                region_name=self.config.region,
                endpoint_url=self.config.aws_endpoint,
            )
            store_private_key(self.cdn_keys, self.template.names, manager)
        if self.config.data_dir is not None:
            restored = restore(self.template, self.config.data_dir, *self._clients())
            log.info("restored %d items and objects from %s", restored, self.config.data_dir)
        runner = LoggingRunner(self.template, extra_env=env)
        # --auth jwt: the template's authorizer before the functions, the issuer beside them.
        authorizer, issuer_routes = (
            local_authorizer(self.template, self.config.api_url, self.config.data_dir)
            if self.config.auth == "jwt"
            else (None, [])
        )
        cdn = self._cdn()
        # Bound now (a busy port fails here), served last: the functions need its URLs.
        self._http = HttpFront(
            LocalHttpApi(runner, authorizer),
            self.config.host,
            self.config.api_port,
            asset_origins=[self.config.aws_endpoint],
            extra_routes=[*issuer_routes, *(cdn.routes() if cdn else [])],
        )
        runner.extra_env.update(self._http.live_environment())
        if cdn is not None:
            base_url = f"http://{self.config.host}:{self._http.port}{CDN_PATH}"
            runner.extra_env.update(cdn_environment(cdn.keys, base_url))
        runner.apply_environment()
        self.event_sources = BackgroundEventSources(
            runner,
            workers=self.config.workers,
            async_retry_delays=self.config.async_retry_delays,
            max_schedule_period=self.config.max_schedule_period,
        )
        self.event_sources.start()
        if self.config.webhook_url:
            self.webhook = WebhookForwarder(
                self.template, self.config.webhook_url, endpoint_url=self.config.aws_endpoint
            )
            self.webhook.start()
        self._http.start()
        log.info("AWS (moto) on %s", self.config.aws_endpoint)
        log.info("HTTP API and demo page on %s", self.config.api_url)
        if authorizer is not None:
            log.info("JWT authorizer on its routes, keys at %s%s", self.config.api_url, JWKS_PATH)
        return self

    def _cdn(self) -> LocalCdn | None:
        """The distribution on the API port; it verifies signatures when the template's is
        private (CdnPublicKeyPem set: always, unless a test hands in its own template)."""
        if not self.config.cdn:
            return None
        signed = bool(self.template.parameters.get("CdnPublicKeyPem"))
        return LocalCdn(
            self.cdn_keys if signed else None,
            self.template,
            endpoint_url=self.config.aws_endpoint,
            region=self.config.region,
        )

    def _clients(self) -> tuple[Any, Any]:
        endpoint, region = self.config.aws_endpoint, self.config.region
        return (
            boto3.client("s3", region_name=region, endpoint_url=endpoint),
            boto3.client("dynamodb", region_name=region, endpoint_url=endpoint),
        )

    def stop(self) -> None:
        if self._http is not None:
            self._http.stop()
        if self.event_sources is not None:
            self.event_sources.stop()
        if self.webhook is not None:
            self.webhook.stop()
        if self.config.data_dir is not None and self._moto is not None:
            snapshot(self.template, self.config.data_dir, *self._clients())
            log.info("saved tables and buckets to %s", self.config.data_dir)
        if self._moto is not None:
            self._moto.stop()
        if self.faults is not None:
            log.info(self.faults.summary())
            faults.uninstall()

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# glibc gives each thread that allocates its own malloc arena (up to 8 per core), and Pillow's
# large, short-lived decode and encode buffers, spread over the pollers' and the server's
# threads, left the arenas fragmented: the stack grew from 118 MiB to 1.5 GiB over 200 uploads
# of 3 MP photos. With two arenas, 100 uploads took it to 615 MiB instead of 1.19 GiB, and the
# rest is what moto keeps in memory (the objects themselves). Lambda runs one process per
# function on one vCPU, so this is a local-stack matter only.
_M_ARENA_MAX = -8  # glibc's mallopt parameter number


def limit_malloc_arenas(arenas: int = 2) -> bool:
    """Cap glibc's malloc arenas for threads created from now on (as MALLOC_ARENA_MAX would);
    a no-op elsewhere. Returns whether it applied."""
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False  # not glibc (macOS, musl): nothing to do
    return bool(libc.mallopt(_M_ARENA_MAX, arenas))


def _free(host: str, port: int) -> bool:
    with socket.socket() as probe:
        # As the servers bind: a port left in TIME_WAIT by the last run is free; one listened on
        # is not.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def serve(config: StackConfig) -> int:
    """`imagepipe local`: run in the foreground until Ctrl-C."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    # The emulator's request log, boto's credential notices and pynamodb's note that it has no
    # settings file drown the one line per invocation.
    for noisy in ("werkzeug", "botocore", "aws_lambda_powertools", "pynamodb"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    busy = [port for port in (config.api_port, config.aws_port) if not _free(config.host, port)]
    if busy:
        print(
            f"imagepipe local: port {busy[0]} on {config.host} is in use (another `imagepipe "
            "local`?): stop it, or choose --api-port/--aws-port",
            file=sys.stderr,
        )
        return 1
    limit_malloc_arenas()
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
