"""API cold start: each API-facing function's handler module imported and invoked once in a
fresh interpreter, as Lambda's init phase and first invocation would, against a bare Powertools
handler with the same utilities (Logger, Tracer, Metrics and, for the HTTP API functions, an
APIGatewayHttpResolver with validation on and one route) in the same environment.

Every run is a new interpreter (`python -c _CHILD`) with the template's environment for the
function, in three settings:

- "on": on Lambda (the variables its runtime adds: LAMBDA_TASK_ROOT, AWS_LAMBDA_FUNCTION_*) with
  tracing on, as Tracing: Active (the template's Globals) makes it: AWS_XRAY_DAEMON_ADDRESS
  points at a UDP socket of this process, which counts the trace documents it receives, and
  _X_AMZN_TRACE_ID (sampled) is set before the invocation, as the runtime does.
- "off": on Lambda with POWERTOOLS_TRACE_DISABLED=1.
- "local": outside Lambda, POWERTOOLS_TRACE_DISABLED=1: the local stack and the tests (where the
  X-Ray SDK, if imported, makes two botocore X-Ray clients). Shown, not checked.

The first invocation is a real event from events/ whose AWS calls go to a stub endpoint of this
process (AWS_ENDPOINT_URL): DynamoDB items kept by key for the run (conditions not checked), a
secret's value, `{}` for anything else. The SDK clients are made, the requests signed and sent;
no AWS account is involved and no emulator is imported into the measured process.

Times are CPU seconds of the child (time.process_time: user + system, all threads), medians
over the runs; wall times are shown beside them. The interpreter's own start-up is not
counted (the same for every handler). Bytecode caches are written first, as a deployment package
ships them, and one uncounted run per handler and mode under `-X importtime` shows where the
import time goes.

The target (issue 16): each API function's init (handler import) <= 1.2x the bare handler's, on
Lambda with tracing on and off. The first invocation is shown beside it, not checked: ours makes
SDK clients and calls AWS there, the bare handler does not.

    .venv/bin/python -m tests.bench.coldstart [--repeat N]     prints the section"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.bench import FUNCTIONS, ROOT
from tests.bench.runner import Check

HEADING = "## API cold start"
MAX_RATIO = 1.2
# "on"/"off": on Lambda, tracing on (Tracing: Active) or off; "local": outside Lambda (the local
# stack, the tests: POWERTOOLS_TRACE_DISABLED=1, no Lambda runtime variables).
MODES = ("on", "off", "local")
CHECKED_MODES = ("on", "off")
EVENTS = ROOT / "events"


@dataclass(frozen=True)
class Subject:
    """A handler module to measure, the event of its first invocation, and its bare twin."""

    function: str  # the template's logical id, or the bare handler's name
    module: str
    event: str  # a file of events/
    kind: str  # "http" or "socket": which bare handler it is compared with


API_FUNCTIONS = (
    Subject("PresignUploadFunction", "presign_upload", "presign_upload.json", "http"),
    Subject("ImagesApiFunction", "images_api", "images_get_unknown.json", "http"),
    Subject("EventsSocketFunction", "events_socket", "events_socket_disconnect.json", "socket"),
)
BARE = {
    "http": Subject("bare Powertools (HTTP API)", "bare_http", "images_get_unknown.json", "http"),
    "socket": Subject(
        "bare Powertools (WebSocket)", "bare_socket", "events_socket_disconnect.json", "socket"
    ),
}

# The bare handlers: Powertools' own utilities configured as ours are, and nothing else.
_BARE_HTTP = '''"""A bare Powertools HTTP API handler: Logger, Tracer, Metrics, one route."""

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.logging import correlation_paths

logger = Logger()
tracer = Tracer()
metrics = Metrics()
app = APIGatewayHttpResolver(enable_validation=True)


@app.get("/images/<image_id>")
def get_image(image_id: str) -> dict:
    return {"imageId": image_id}


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event, context):
    return app.resolve(event, context)
'''
_BARE_SOCKET = '''"""A bare Powertools WebSocket handler: Logger, Tracer, Metrics."""

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger()
tracer = Tracer()
metrics = Metrics()


@logger.inject_lambda_context(correlation_id_path="requestContext.requestId")
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event, context):
    return {"statusCode": 200}
'''

# One cold start, in a fresh interpreter whose working directory is the code directory:
# argv = module, event file, output file.
_CHILD = """
import importlib, json, os, sys, time
module, event_path, out_path = sys.argv[1:4]
sys.path.insert(0, os.getcwd())
before = set(sys.modules)
wall, cpu = time.perf_counter(), time.process_time()
handler = importlib.import_module(module).handler
import_wall, import_cpu = time.perf_counter() - wall, time.process_time() - cpu
imported = sorted(set(sys.modules) - before)
with open(event_path, encoding="utf-8") as f:
    event = json.load(f)
trace = os.environ.pop("BENCH_TRACE_ID", "")
if trace:
    os.environ["_X_AMZN_TRACE_ID"] = trace

class Context:
    function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", module)
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:" + function_name
    memory_limit_in_mb = 256
    aws_request_id = "00000000-0000-4000-8000-000000000001"
    log_group_name = "/aws/lambda/" + function_name
    log_stream_name = "bench"
    def get_remaining_time_in_millis(self):
        return 10000

wall, cpu = time.perf_counter(), time.process_time()
response = handler(event, Context())
invoke_wall, invoke_cpu = time.perf_counter() - wall, time.process_time() - cpu
with open(out_path, "w", encoding="utf-8") as f:
    json.dump({
        "import_cpu": import_cpu, "import_wall": import_wall,
        "invoke_cpu": invoke_cpu, "invoke_wall": invoke_wall,
        "status": response.get("statusCode"), "imported": imported,
        "later": sorted(set(sys.modules) - before - set(imported)),
        "package": getattr(sys.modules.get("imagepipe"), "__file__", None),
    }, f)
"""


@dataclass(frozen=True)
class Run:
    import_cpu: float
    import_wall: float
    invoke_cpu: float
    invoke_wall: float
    status: int | None
    imported: list[str]  # modules the import loaded
    later: list[str]  # modules the first invocation loaded
    traces: int  # trace documents the X-Ray daemon address received


@dataclass(frozen=True)
class Measured:
    subject: Subject
    mode: str
    runs: list[Run]
    aws_calls: list[str]  # what the first invocation asked the stub endpoint (the last run)
    top_imports: list[tuple[str, float]]  # (top-level package, ms of its own import time)

    def median(self, field: str) -> float:
        return float(statistics.median(getattr(run, field) for run in self.runs))

    @property
    def total_cpu(self) -> float:
        return statistics.median(run.import_cpu + run.invoke_cpu for run in self.runs)

    @property
    def packages(self) -> set[str]:
        return {name.split(".")[0] for name in self.runs[0].imported}


@dataclass(frozen=True)
class Row:
    ours: Measured
    bare: Measured

    @property
    def ratio(self) -> float:
        return self.ours.median("import_cpu") / self.bare.median("import_cpu")

    @property
    def total_ratio(self) -> float:
        return self.ours.total_cpu / self.bare.total_cpu

    @property
    def beyond_bare(self) -> list[str]:
        """Top-level packages the handler's import loads that the bare handler's does not."""
        ignored = {self.ours.subject.module, *sys.stdlib_module_names}
        return sorted(self.ours.packages - self.bare.packages - ignored)


@dataclass(frozen=True)
class ColdStartSummary:
    rows: list[Row]
    repeat: int
    load: tuple[tuple[float, float, float], tuple[float, float, float]]
    python: str


class _StubAws(BaseHTTPRequestHandler):
    """A stand-in for the AWS endpoints a first request reaches: DynamoDB items kept by key
    for the run (conditions not checked), a secret's value, and `{}` for anything else."""

    calls: list[str]
    keys: dict[str, list[str]]  # table name -> its key attributes
    items: dict[tuple[str, str], dict[str, Any]]

    def _answer(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        request = json.loads(self.rfile.read(length) or b"{}") if length else {}
        target = self.headers.get("x-amz-target") or f"{self.command} {self.path.split('?')[0]}"
        self.calls.append(target)
        body = json.dumps(self._reply(target.split(".")[-1], request)).encode()
        self.send_response(200)
        self.send_header("content-type", "application/x-amz-json-1.0")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _key(self, table: str, item: dict[str, Any]) -> tuple[str, str]:
        names = self.keys.get(table, sorted(item))
        return table, json.dumps({name: item.get(name) for name in names}, sort_keys=True)

    def _write(self, operation: str, request: dict[str, Any]) -> None:
        table = request.get("TableName", "")
        if operation == "Put":
            self.items[self._key(table, request["Item"])] = request["Item"]
        elif operation == "Delete":
            self.items.pop(self._key(table, request["Key"]), None)

    def _reply(self, operation: str, request: dict[str, Any]) -> dict[str, Any]:
        if operation == "GetSecretValue":
            return {"SecretString": "bench-" + "k" * 58}
        if operation == "GetItem":
            item = self.items.get(self._key(request.get("TableName", ""), request["Key"]))
            return {"Item": item} if item else {}
        if operation in ("PutItem", "DeleteItem"):
            self._write(operation[: -len("Item")], request)
        elif operation == "TransactWriteItems":
            for entry in request.get("TransactItems", []):
                for kind, write in entry.items():
                    self._write(kind, write)
        elif operation in ("Query", "Scan"):
            return {"Items": [], "Count": 0, "ScannedCount": 0}
        return {}

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _answer  # noqa: N815 - the base's names

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def _stub_aws() -> Iterator[tuple[str, list[str], dict[tuple[str, str], dict[str, Any]]]]:
    from imagepipe_local.template import Template

    template = Template.load()
    keys = {}
    for table in template.of_type("AWS::DynamoDB::Table"):
        definition = template.table_definition(table)
        keys[definition["TableName"]] = [key["AttributeName"] for key in definition["KeySchema"]]
    calls: list[str] = []
    items: dict[tuple[str, str], dict[str, Any]] = {}
    handler = type("StubAws", (_StubAws,), {"calls": calls, "keys": keys, "items": items})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", calls, items
    finally:
        server.shutdown()
        server.server_close()


def _drain(daemon: socket.socket) -> int:
    count = 0
    while True:
        try:
            count += daemon.recv(65536).count(b'"trace_id"')
        except BlockingIOError:
            return count


def _environment(function: str, mode: str, code: Path, aws: str, xray: str) -> dict[str, str]:
    from imagepipe_local.template import Template

    env = {key: os.environ[key] for key in ("PATH", "HOME", "LANG", "TMPDIR") if key in os.environ}
    env.update(Template.load().function_environment(function))
    if mode != "local":
        env.update(
            {
                # What the Lambda runtime adds.
                "LAMBDA_TASK_ROOT": str(code),
                "AWS_LAMBDA_FUNCTION_NAME": function,
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
                "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
                "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
                "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
            }
        )
    env.update(
        {
            "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_SESSION_TOKEN": "bench",
            # No AWS: every call goes to the stub; no instance metadata lookup either.
            "AWS_ENDPOINT_URL": aws,
            "AWS_EC2_METADATA_DISABLED": "true",
            "PYTHONPATH": str(code),
        }
    )
    if mode == "on":
        env["AWS_XRAY_DAEMON_ADDRESS"] = xray
        env["AWS_XRAY_CONTEXT_MISSING"] = "LOG_ERROR"
        env["BENCH_TRACE_ID"] = (
            "Root=1-6750a000-0123456789abcdef01234567;Parent=0123456789abcdef;Sampled=1"
        )
    else:
        env["POWERTOOLS_TRACE_DISABLED"] = "1"
    return env


def _run_once(
    subject: Subject, env: dict[str, str], code: Path, *, importtime: bool = False
) -> tuple[dict[str, Any], str]:
    with tempfile.TemporaryDirectory(prefix="coldstart-") as tmp:
        out = Path(tmp) / "run.json"
        command = [sys.executable, *(["-X", "importtime"] if importtime else [])]
        command += ["-c", _CHILD, subject.module, str(EVENTS / subject.event), str(out)]
        done = subprocess.run(  # noqa: S603 - our own interpreter and code
            command,
            env=env,
            cwd=code,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            check=False,
            timeout=120,
        )
        if done.returncode != 0 or not out.exists():
            raise RuntimeError(f"{subject.module}: cold start failed\n{done.stderr[-4000:]}")
        data: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
        if data["package"] and not data["package"].startswith(str(code)):
            raise RuntimeError(f"{subject.module} imported imagepipe from {data['package']}")
        return data, done.stderr


def _top_imports(stderr: str, imported: list[str], count: int = 4) -> list[tuple[str, float]]:
    """The top-level packages with the most import time of their own (-X importtime)."""
    loaded = set(imported)
    own: dict[str, float] = {}
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        parts = line.split("|")
        name = parts[2].strip()
        if name not in loaded or not parts[0].split(":")[1].strip().isdigit():
            continue
        package = name.split(".")[0]
        own[package] = own.get(package, 0.0) + int(parts[0].split(":")[1]) / 1000
    return sorted(own.items(), key=lambda item: -item[1])[:count]


@dataclass
class _Plan:
    """What to run for one handler in one setting, and what its runs gave."""

    subject: Subject
    code: Path
    env: dict[str, str]
    runs: list[Run]
    aws_calls: list[str]
    top_imports: list[tuple[str, float]]


def _run(
    plan: _Plan,
    aws: tuple[str, list[str], dict[tuple[str, str], dict[str, Any]]],
    daemon: socket.socket,
) -> None:
    _, calls, items = aws
    calls.clear()
    items.clear()
    data, _ = _run_once(plan.subject, plan.env, plan.code)
    plan.runs.append(
        Run(
            import_cpu=data["import_cpu"],
            import_wall=data["import_wall"],
            invoke_cpu=data["invoke_cpu"],
            invoke_wall=data["invoke_wall"],
            status=data["status"],
            imported=data["imported"],
            later=data["later"],
            traces=_drain(daemon),
        )
    )
    plan.aws_calls = list(calls)


def bench_coldstart(
    repeat: int, progress: Callable[[str], None], *, functions: Path = FUNCTIONS
) -> ColdStartSummary:
    """`functions` may be another checkout's functions/ (a before/after comparison). The runs
    of a setting are interleaved (every handler once, then again), so a change of the machine's
    load meets ours and the bare handlers alike."""
    load_before = os.getloadavg()
    rows: list[Row] = []
    with (
        tempfile.TemporaryDirectory(prefix="coldstart-bare-") as tmp,
        _stub_aws() as aws,
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as daemon,
    ):
        daemon.bind(("127.0.0.1", 0))
        daemon.setblocking(False)
        xray = f"127.0.0.1:{daemon.getsockname()[1]}"
        bare_code = Path(tmp)
        (bare_code / "bare_http.py").write_text(_BARE_HTTP, encoding="utf-8")
        (bare_code / "bare_socket.py").write_text(_BARE_SOCKET, encoding="utf-8")
        # Bytecode caches written first, as a deployment package would ship them.
        for code in (bare_code, functions):
            compileall.compile_dir(code, quiet=1)
        for mode in MODES:
            # The bare handlers get the environment of a function they stand beside.
            bare = {
                kind: _Plan(
                    subject,
                    bare_code,
                    _environment(
                        "PresignUploadFunction" if kind == "http" else "EventsSocketFunction",
                        mode,
                        bare_code,
                        aws[0],
                        xray,
                    ),
                    [],
                    [],
                    [],
                )
                for kind, subject in BARE.items()
            }
            ours = [
                _Plan(
                    subject,
                    functions,
                    _environment(subject.function, mode, functions, aws[0], xray),
                    [],
                    [],
                    [],
                )
                for subject in API_FUNCTIONS
            ]
            for plan in ours:
                # An uncounted run under -X importtime: where the import time goes.
                aws[2].clear()
                data, stderr = _run_once(plan.subject, plan.env, plan.code, importtime=True)
                plan.top_imports = _top_imports(stderr, data["imported"])
                _drain(daemon)
            for round_ in range(repeat):
                progress(f"cold start: tracing {mode}, run {round_ + 1} of {repeat}")
                for plan in [*bare.values(), *ours]:
                    _run(plan, aws, daemon)
            measured = {
                id(plan): Measured(plan.subject, mode, plan.runs, plan.aws_calls, plan.top_imports)
                for plan in [*bare.values(), *ours]
            }
            rows += [
                Row(measured[id(plan)], measured[id(bare[plan.subject.kind])]) for plan in ours
            ]
    python = f"Python {sys.version.split()[0]}"
    return ColdStartSummary(rows, repeat, (load_before, os.getloadavg()), python)


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f}"


def _load(load: tuple[float, float, float]) -> str:
    return " ".join(f"{value:.2f}" for value in load)


def render_coldstart(summary: ColdStartSummary, elapsed: float) -> str:
    lines = [
        HEADING,
        "",
        (
            f"Each API function's handler module imported (Lambda's init) and invoked once with an "
            f"event from events/ (first invoke), in a fresh interpreter, {summary.repeat} run(s), "
            f"medians of the child's CPU ms (wall ms in brackets); {summary.python}, load average "
            f"{_load(summary.load[0])} before, {_load(summary.load[1])} after, {elapsed:.0f} s. "
            f'"bare" is a Powertools handler with Logger, Tracer, Metrics (and for the HTTP API an '
            f"APIGatewayHttpResolver with validation and one route) in the same environment. "
            f"Ratio = our init / bare init (target <= {MAX_RATIO}); the total ratio counts the "
            f"first invoke too (ours makes its SDK clients and calls AWS, a stub here; the bare "
            f"one does not). on: Lambda's environment, tracing on as Tracing: Active makes it "
            f"(X-Ray daemon address, sampled trace id); off: the same with "
            f"POWERTOOLS_TRACE_DISABLED=1; local: outside Lambda, tracing off (the local stack, "
            f"the tests; not checked)."
        ),
        "",
        (
            "| function | tracing | import ms | first invoke ms | total ms "
            "| bare import / total ms | ratio (init) | ratio (total) | status | traces "
            "| top imports (own ms) | beyond bare |"
        ),
        "|---|---|---:|---:|---:|---:|---:|---:|---|---:|---|---|",
    ]
    for row in summary.rows:
        ours, bare = row.ours, row.bare
        top = ", ".join(f"{name} {ms:.0f}" for name, ms in ours.top_imports)
        beyond = ", ".join(row.beyond_bare) or "-"
        statuses = sorted({str(run.status) for run in ours.runs})
        traces = statistics.median(run.traces for run in ours.runs)
        lines.append(
            f"| {ours.subject.function} | {ours.mode} "
            f"| {_ms(ours.median('import_cpu'))} ({_ms(ours.median('import_wall'))}) "
            f"| {_ms(ours.median('invoke_cpu'))} ({_ms(ours.median('invoke_wall'))}) "
            f"| {_ms(ours.total_cpu)} "
            f"| {_ms(bare.median('import_cpu'))} / {_ms(bare.total_cpu)} "
            f"| {row.ratio:.2f} | {row.total_ratio:.2f} | {'/'.join(statuses)} | {traces:.0f} "
            f"| {top} | {beyond} |"
        )
    calls = {row.ours.subject.function: row.ours.aws_calls for row in summary.rows}
    lines += ["", "AWS calls of each first invocation (answered by the bench's stub endpoint):", ""]
    lines += [f"- {name}: {', '.join(found) or 'none'}" for name, found in calls.items()]
    return "\n".join(lines) + "\n"


def check_coldstart(summary: ColdStartSummary) -> list[Check]:
    return [
        Check(
            target=f"API cold start <= {MAX_RATIO}x bare Powertools "
            f"(init, tracing {row.ours.mode})",
            photo=row.ours.subject.function,
            passed=row.ratio <= MAX_RATIO,
            measured=f"{row.ratio:.2f}x ({_ms(row.ours.median('import_cpu'))} vs "
            f"{_ms(row.bare.median('import_cpu'))} CPU ms)",
        )
        for row in summary.rows
        if row.ours.mode in CHECKED_MODES
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per handler (default 3)")
    parser.add_argument(
        "--functions", type=Path, default=FUNCTIONS, help="the code to measure (default functions/)"
    )
    args = parser.parse_args(argv)
    started = time.perf_counter()
    summary = bench_coldstart(
        args.repeat, lambda message: print(message, file=sys.stderr), functions=args.functions
    )
    print(render_coldstart(summary, time.perf_counter() - started))
    checks = check_coldstart(summary)
    for check in checks:
        print(
            f"{'PASS' if check.passed else 'FAIL'}  {check.photo}: {check.target}: {check.measured}"
        )
    return 0 if all(check.passed for check in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
