"""IAM, enforced where moto does not: each AWS call a function makes is checked against that
function's policy in template.yaml, and refused with AccessDenied as AWS would refuse it.

While a handler runs under `FunctionRunner`, every botocore API call and every presigned
request is turned into the IAM requests it implies (action, resource ARN, condition keys) and
evaluated against the function's resolved policy statements. The call is also attributed to the
adapter method that made it (the outermost `imagepipe.adapters` frame on the stack) and checked
against `imagepipe_local.permissions`: a call from an undeclared method, or from outside the
adapters, is a violation too. Violations are kept (`IamEnforcer.violations`) as well as raised,
so that code which swallows errors (best-effort labels) still cannot hide one from the tests.
"""

from __future__ import annotations

import contextvars
import fnmatch
import re
import sys
import threading
import weakref
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import urlsplit

import botocore.client
import botocore.signers
from botocore.exceptions import ClientError

from imagepipe import adapters
from imagepipe_local.permissions import ADAPTER_CALLS, FUNCTION_CALLS
from imagepipe_local.template import Template


@dataclass(frozen=True)
class _Acting:
    function: str
    template: Template
    caller: str | None


_current: contextvars.ContextVar[_Acting | None] = contextvars.ContextVar(
    "imagepipe_function", default=None
)
_ADAPTERS = str(Path(adapters.__file__).resolve().parent)
_IDEMPOTENCY = str(Path("aws_lambda_powertools") / "utilities" / "idempotency")


@dataclass(frozen=True)
class Request:
    """One IAM authorization request: an action on a resource, with its condition keys."""

    action: str
    resource: str
    context: tuple[tuple[str, str], ...] = ()


@contextmanager
def acting_as(function: str, template: Template, caller: str | None = None) -> Iterator[None]:
    """Attribute the AWS calls made in this block to a function of this template (and, for
    calls Lambda makes on the function's behalf, to that `caller` of the permissions file)."""
    token = _current.set(_Acting(function, template, caller))
    try:
        yield
    finally:
        _current.reset(token)


def function_code_running() -> str | None:
    """The template function whose own code is running (not Lambda acting for it), if any."""
    acting = _current.get()
    return acting.function if acting is not None and acting.caller is None else None


def _bucket_arn(bucket: str) -> str:
    return f"arn:aws:s3:::{bucket}"


def requests_of(
    service: str,
    operation: str,
    params: Mapping[str, Any],
    region: str,
    account: str,
    endpoint: str | None = None,
) -> list[Request]:
    """The IAM requests behind one API call (or presigned request), as AWS evaluates them."""
    if service == "s3":
        bucket = str(params.get("Bucket", ""))
        obj = f"{_bucket_arn(bucket)}/{params.get('Key', '')}"
        if operation in ("GetObject", "HeadObject"):
            return [Request("s3:GetObject", obj)]
        if operation in (
            "PutObject",
            "CreateMultipartUpload",
            "UploadPart",
            "CompleteMultipartUpload",
        ):
            return [Request("s3:PutObject", obj)]
        if operation == "ListParts":
            return [Request("s3:ListMultipartUploadParts", obj)]
        if operation == "AbortMultipartUpload":
            return [Request("s3:AbortMultipartUpload", obj)]
        if operation == "DeleteObject":
            return [Request("s3:DeleteObject", obj)]
        if operation == "DeleteObjects":
            keys = [o["Key"] for o in params.get("Delete", {}).get("Objects", [])]
            return [Request("s3:DeleteObject", f"{_bucket_arn(bucket)}/{k}") for k in keys]
        if operation in ("ListObjectsV2", "ListObjects"):
            prefix = (("s3:prefix", str(params.get("Prefix", ""))),)
            return [Request("s3:ListBucket", _bucket_arn(bucket), prefix)]
        if operation == "CopyObject":
            source = params["CopySource"]
            if isinstance(source, str):
                source_bucket, _, source_key = source.lstrip("/").partition("/")
            else:
                source_bucket, source_key = source["Bucket"], source["Key"]
            return [
                Request("s3:GetObject", f"{_bucket_arn(source_bucket)}/{source_key}"),
                Request("s3:PutObject", obj),
            ]
    if service == "dynamodb":
        table = f"arn:aws:dynamodb:{region}:{account}:table/"
        if operation in ("BatchGetItem", "BatchWriteItem"):
            return [
                Request(f"dynamodb:{operation}", table + name) for name in params["RequestItems"]
            ]
        if operation == "TransactWriteItems":
            kinds = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem"}
            kinds["ConditionCheck"] = "ConditionCheckItem"
            return [
                Request(f"dynamodb:{kinds[kind]}", table + body["TableName"])
                for item in params["TransactItems"]
                for kind, body in item.items()
            ]
        resource = table + str(params["TableName"])
        if params.get("IndexName"):
            resource += f"/index/{params['IndexName']}"
        return [Request(f"dynamodb:{operation}", resource)]
    if service == "sqs" and "QueueUrl" in params:
        name = urlsplit(str(params["QueueUrl"])).path.rstrip("/").rsplit("/", 1)[-1]
        return [Request(f"sqs:{operation}", f"arn:aws:sqs:{region}:{account}:{name}")]
    if service == "bedrock-runtime" and operation in ("Converse", "InvokeModel"):
        # Converse is authorised as InvokeModel, on the model (or inference profile) it names.
        model = str(params["modelId"])
        if model.startswith("arn:"):
            return [Request("bedrock:InvokeModel", model)]
        if re.match(r"^(us|eu|apac|global)\.", model):
            profile = f"arn:aws:bedrock:{region}:{account}:inference-profile/{model}"
            return [Request("bedrock:InvokeModel", profile)]
        return [
            Request("bedrock:InvokeModel", f"arn:aws:bedrock:{region}::foundation-model/{model}")
        ]
    if service == "s3vectors":
        index = params.get("indexArn") or (
            f"arn:aws:s3vectors:{region}:{account}:bucket/{params.get('vectorBucketName')}"
            f"/index/{params.get('indexName')}"
        )
        return [Request(f"s3vectors:{operation}", str(index))]
    if service == "events" and operation == "PutEvents":
        buses = {str(entry.get("EventBusName") or "default") for entry in params["Entries"]}
        return [
            Request(
                "events:PutEvents",
                bus
                if bus.startswith("arn:")
                else f"arn:aws:events:{region}:{account}:event-bus/{bus}",
            )
            for bus in sorted(buses)
        ]
    if service == "rekognition":
        return [Request(f"rekognition:{operation}", "*")]
    if service == "secretsmanager" and operation == "GetSecretValue":
        secret = str(params["SecretId"])
        if not secret.startswith("arn:"):
            secret = f"arn:aws:secretsmanager:{region}:{account}:secret:{secret}"
        return [Request("secretsmanager:GetSecretValue", secret)]
    if service == "apigatewaymanagementapi":
        api_id, stage = _websocket_api_of(endpoint or "")
        method = {"PostToConnection": "POST", "GetConnection": "GET"}.get(operation, "DELETE")
        resource = f"arn:aws:execute-api:{region}:{account}:{api_id}/{stage}/{method}"
        return [Request("execute-api:ManageConnections", f"{resource}/@connections/*")]
    raise NotImplementedError(f"no IAM mapping for {service}:{operation}: add it to {__name__}")


def _websocket_api_of(endpoint: str) -> tuple[str, str]:
    """(API id, stage) of a management endpoint: https://{api}.execute-api.{region}.amazonaws.com
    /{stage} on AWS, http://{host}:{port}/{api}/{stage} on the local stack (sockets.py)."""
    parts = urlsplit(endpoint)
    segments = [s for s in parts.path.split("/") if s]
    host = parts.hostname or ""
    if ".execute-api." in host and segments:
        return host.split(".", 1)[0], segments[0]
    if len(segments) >= 2:
        return segments[0], segments[1]
    raise ValueError(f"not a WebSocket API management endpoint: {endpoint!r}")


def _listify(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _matches(patterns: Any, value: str) -> bool:
    return any(fnmatch.fnmatchcase(value, str(p)) for p in _listify(patterns))


class Policy:
    """A function's identity policy, resolved from the template: Allow/Deny statements with
    Action, Resource and the StringEquals/StringLike conditions the template uses."""

    def __init__(self, statements: list[Mapping[str, Any]]) -> None:
        self.statements = statements

    @classmethod
    def of(cls, template: Template, function: str) -> Policy:
        statements: list[Mapping[str, Any]] = []
        for policy in template.resolve(template.properties(function).get("Policies", [])):
            statements.extend(policy["Statement"])
        return cls(statements)

    @property
    def actions(self) -> frozenset[str]:
        return frozenset(
            a for s in self.statements if s["Effect"] == "Allow" for a in _listify(s["Action"])
        )

    def _applies(self, statement: Mapping[str, Any], request: Request) -> bool:
        actions = [a.lower() for a in _listify(statement["Action"])]
        if not _matches(actions, request.action.lower()):
            return False
        if not _matches(statement["Resource"], request.resource):
            return False
        context = dict(request.context)
        for operator, tests in statement.get("Condition", {}).items():
            if operator not in ("StringEquals", "StringLike"):
                raise NotImplementedError(f"condition operator {operator}")
            for key, expected in tests.items():
                if key not in context:
                    return False
                if operator == "StringEquals" and context[key] not in _listify(expected):
                    return False
                if operator == "StringLike" and not _matches(expected, context[key]):
                    return False
        return True

    def allows(self, request: Request) -> bool:
        applicable = [s for s in self.statements if self._applies(s, request)]
        if any(s["Effect"] == "Deny" for s in applicable):
            return False
        return any(s["Effect"] == "Allow" for s in applicable)


def _caller(frame: FrameType | None) -> str | None:
    """The outermost adapter method on the stack (`Class.method`), or a known library caller."""
    found: str | None = None
    while frame is not None:
        filename = frame.f_code.co_filename
        if filename.startswith(_ADAPTERS) and "self" in frame.f_locals:
            found = f"{type(frame.f_locals['self']).__name__}.{frame.f_code.co_name}"
        elif found is None and _IDEMPOTENCY in filename:
            found = "powertools.idempotency"
        frame = frame.f_back
    return found


class IamEnforcer:
    """Checks every AWS call made while a template function runs (see the module's doc)."""

    def __init__(self) -> None:
        self.violations: list[str] = []
        self._lock = threading.Lock()
        # Per template object (tests run altered copies), forgotten with it.
        self._policies: weakref.WeakKeyDictionary[Template, dict[str, Policy]] = (
            weakref.WeakKeyDictionary()
        )

    def policy(self, template: Template, function: str) -> Policy:
        with self._lock:
            policies = self._policies.setdefault(template, {})
            if function not in policies:
                policies[function] = Policy.of(template, function)
            return policies[function]

    def check(
        self,
        service: str,
        operation: str,
        params: Mapping[str, Any],
        region: str,
        endpoint: str | None = None,
    ) -> None:
        acting = _current.get()
        if acting is None:
            return  # not a function's call: the local stack itself, or a test arranging data
        function = acting.function
        problems = []
        caller = acting.caller or _caller(sys._getframe())
        account = acting.template.names.account_id
        requests = requests_of(service, operation, params, region, account, endpoint)
        if caller is None:
            problems.append(f"{service}:{operation} is called outside an adapter")
        elif caller not in FUNCTION_CALLS.get(function, {}):
            problems.append(
                f"{caller} ({service}:{operation}) is not declared for {function} in "
                "local/imagepipe_local/permissions.py"
            )
        elif any(r.action not in ADAPTER_CALLS[caller] for r in requests):
            problems.append(
                f"{caller} makes {service}:{operation}, which its entry in "
                "local/imagepipe_local/permissions.py does not declare"
            )
        policy = self.policy(acting.template, function)
        denied = [r for r in requests if not policy.allows(r)]
        problems += [
            f"{function}'s policy in template.yaml does not allow {r.action} on {r.resource}"
            + (f" with {dict(r.context)}" if r.context else "")
            for r in denied
        ]
        if problems:
            with self._lock:
                self.violations.extend(problems)
            raise ClientError(
                {"Error": {"Code": "AccessDenied", "Message": "; ".join(problems)}}, operation
            )


_installed: IamEnforcer | None = None
_original_make_api_call = botocore.client.BaseClient._make_api_call  # type: ignore[attr-defined]
_original_presigned_url = botocore.signers.generate_presigned_url
_original_presigned_post = botocore.signers.generate_presigned_post


def _make_api_call(self: Any, operation_name: str, api_params: dict[str, Any]) -> Any:
    if _installed is not None:
        service = self.meta.service_model.service_name
        _installed.check(
            service, operation_name, api_params, self.meta.region_name, self.meta.endpoint_url
        )
    return _original_make_api_call(self, operation_name, api_params)


def _presigned_url(self: Any, ClientMethod: str, Params: Any = None, **kwargs: Any) -> Any:  # noqa: N803 - botocore's names
    if _installed is not None:
        operation = self._PY_TO_OP_NAME[ClientMethod]
        service = self.meta.service_model.service_name
        _installed.check(service, operation, Params or {}, self.meta.region_name)
    return _original_presigned_url(self, ClientMethod, Params, **kwargs)


def _presigned_post(self: Any, Bucket: str, Key: str, *args: Any, **kwargs: Any) -> Any:  # noqa: N803 - botocore's names
    if _installed is not None:
        params = {"Bucket": Bucket, "Key": Key}
        _installed.check("s3", "PutObject", params, self.meta.region_name)
    return _original_presigned_post(self, Bucket, Key, *args, **kwargs)


def install() -> IamEnforcer:
    """Enforce the policies on every botocore client of this process: API calls of any client,
    presigns of clients created from now on (botocore binds those per client class)."""
    global _installed
    if _installed is not None:
        return _installed
    _installed = IamEnforcer()
    botocore.client.BaseClient._make_api_call = _make_api_call  # type: ignore[attr-defined]
    botocore.signers.generate_presigned_url = _presigned_url  # type: ignore[assignment]
    botocore.signers.generate_presigned_post = _presigned_post
    return _installed
