"""template.yaml as the single source of truth for names, key schemas, routes and environments.

Tests and the local stack read the template through this module instead of repeating it."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml


def find_project_root() -> Path:
    """The repository holding template.yaml: $IMAGEPIPE_ROOT if set, else the nearest directory
    above this package (an editable install) or above the working directory that has one."""
    if configured := os.environ.get("IMAGEPIPE_ROOT"):
        return Path(configured).resolve()
    for start in (Path(__file__).resolve().parent, Path.cwd().resolve()):
        for directory in (start, *start.parents):
            if (directory / "template.yaml").is_file():
                return directory
    raise FileNotFoundError("no template.yaml above this package or the working directory")


PROJECT_ROOT = find_project_root()
TEMPLATE_PATH = PROJECT_ROOT / "template.yaml"

# Keys of AWS::DynamoDB::Table properties that DynamoDB's CreateTable accepts as they are.
_CREATE_TABLE_KEYS = (
    "AttributeDefinitions",
    "KeySchema",
    "LocalSecondaryIndexes",
    "GlobalSecondaryIndexes",
    "BillingMode",
    "SSESpecification",
    "StreamSpecification",
)


class _CfnLoader(yaml.SafeLoader):
    """A YAML loader that turns short-form intrinsics (!Ref, !Sub, !GetAtt...) into long form."""


def _intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = str(value).split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {name: value}


_CfnLoader.add_multi_constructor("!", _intrinsic)


def load_template(path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    with path.open(encoding="utf-8") as stream:
        data = yaml.load(stream, Loader=_CfnLoader)  # noqa: S506 - SafeLoader subclass
    if not isinstance(data, dict):
        raise ValueError(f"{path} is not a template")
    return data


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    function: str

    @property
    def route_key(self) -> str:
        return f"{self.method} {self.path}"


@dataclass(frozen=True)
class JwtRule:
    """What the HttpApi's JWT authorizer checks on one route (its `security` in the API body)."""

    issuer: str
    audiences: tuple[str, ...]
    header: str  # the identity source's header, lower case
    scopes: tuple[str, ...]  # the route's authorization scopes; empty: any valid token


@dataclass(frozen=True)
class SqsSource:
    function: str
    queue: str
    batch_size: int
    partial_failures: bool


@dataclass(frozen=True)
class S3Source:
    function: str
    bucket: str
    events: tuple[str, ...]
    prefix: str


@dataclass(frozen=True)
class BusRuleSource:
    function: str
    name: str  # the event's name in the template, e.g. "Lifecycle"
    bus: str  # logical id of the event bus
    pattern: dict[str, Any]
    max_retries: int  # RetryPolicy.MaximumRetryAttempts (EventBridge's default: 185)


@dataclass(frozen=True)
class ScheduleSource:
    function: str
    name: str  # the event's name in the template, e.g. "Sweep"
    seconds: float  # the period of its rate() expression


_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}


@dataclass(frozen=True)
class LocalNames:
    """How the template's pseudo parameters resolve outside AWS."""

    stack_name: str = "imagepipe-local"
    region: str = "us-east-1"
    account_id: str = "123456789012"


# `Ref: AWS::NoValue` resolves to this marker, which drops the key or item holding it.
_NO_VALUE = object()


class Template:
    def __init__(
        self,
        data: Mapping[str, Any],
        names: LocalNames | None = None,
        parameters: Mapping[str, Any] | None = None,
    ) -> None:
        self.data = data
        self.names = names or LocalNames()
        self.overrides = dict(parameters or {})

    @classmethod
    def load(
        cls,
        path: Path = TEMPLATE_PATH,
        names: LocalNames | None = None,
        parameters: Mapping[str, Any] | None = None,
    ) -> Template:
        """The template at `path`, its parameters at their defaults unless given here."""
        return cls(load_template(path), names, parameters)

    @property
    def resources(self) -> dict[str, dict[str, Any]]:
        return dict(self.data["Resources"])

    def resource(self, logical_id: str) -> dict[str, Any]:
        return dict(self.data["Resources"][logical_id])

    def properties(self, logical_id: str) -> dict[str, Any]:
        return dict(self.resource(logical_id).get("Properties", {}))

    def of_type(self, kind: str) -> list[str]:
        """The resources of a type that the parameters' values create (their Condition holds)."""
        return [
            name
            for name, res in self.resources.items()
            if res.get("Type") == kind
            and ("Condition" not in res or self.condition(res["Condition"]))
        ]

    @property
    def functions(self) -> list[str]:
        return self.of_type("AWS::Serverless::Function")

    @cached_property
    def parameters(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name, spec in self.data.get("Parameters", {}).items():
            value = self.overrides.get(name, spec.get("Default"))
            if spec.get("Type") == "CommaDelimitedList" and isinstance(value, str):
                value = [item.strip() for item in value.split(",")]
            values[name] = value
        return values

    def condition(self, name: str) -> bool:
        """A named condition of the template, evaluated on the parameters' values."""
        return self._holds(self.data.get("Conditions", {})[name])

    def _holds(self, expression: Any) -> bool:
        ((key, arg),) = expression.items()
        if key in ("Condition", "Fn::Condition"):  # !Condition in short form
            return self.condition(arg)
        if key == "Fn::Equals":
            left, right = (self.resolve(a) for a in arg)
            return bool(str(left) == str(right))
        if key == "Fn::Not":
            return not self._holds(arg[0])
        if key == "Fn::And":
            return all(self._holds(a) for a in arg)
        if key == "Fn::Or":
            return any(self._holds(a) for a in arg)
        raise ValueError(f"unsupported condition function {key}")

    # --- physical names -------------------------------------------------------------------

    def physical_name(self, logical_id: str) -> str:
        """The name a resource gets: its explicit name property if any, else stack-logicalId."""
        resource = self.resource(logical_id)
        props = resource.get("Properties", {})
        for key in ("BucketName", "TableName", "QueueName", "FunctionName", "VectorBucketName"):
            if key in props:
                return str(self.resolve(props[key]))
        if resource["Type"] in ("AWS::Events::EventBus", "AWS::SecretsManager::Secret"):
            return str(self.resolve(props["Name"]))
        if resource["Type"] == "AWS::S3Vectors::Index":
            return str(self.resolve(props["IndexName"]))
        if resource["Type"] == "AWS::ApiGatewayV2::Stage":
            return str(self.resolve(props["StageName"]))
        if resource["Type"] == "AWS::ApiGatewayV2::Api":
            # Ref gives the API id, ten lowercase alphanumerics on AWS.
            return f"{logical_id.lower()[:10]:0<10}"
        return f"{self.names.stack_name}-{logical_id}"

    def arn(self, logical_id: str) -> str:
        kind = self.resource(logical_id)["Type"]
        name = self.physical_name(logical_id)
        region, account = self.names.region, self.names.account_id
        if kind == "AWS::S3::Bucket":
            return f"arn:aws:s3:::{name}"
        if kind == "AWS::DynamoDB::Table":
            return f"arn:aws:dynamodb:{region}:{account}:table/{name}"
        if kind == "AWS::SQS::Queue":
            return f"arn:aws:sqs:{region}:{account}:{name}"
        if kind in ("AWS::Serverless::Function", "AWS::Lambda::Function"):
            return f"arn:aws:lambda:{region}:{account}:function:{name}"
        if kind == "AWS::Events::EventBus":
            return f"arn:aws:events:{region}:{account}:event-bus/{name}"
        if kind == "AWS::S3Vectors::VectorBucket":
            return f"arn:aws:s3vectors:{region}:{account}:bucket/{name}"
        if kind == "AWS::S3Vectors::Index":
            bucket, index = self.vector_index(logical_id)
            return f"arn:aws:s3vectors:{region}:{account}:bucket/{bucket}/index/{index}"
        if kind == "AWS::SecretsManager::Secret":
            # AWS appends six random characters; Secrets Manager accepts the ARN without them.
            return f"arn:aws:secretsmanager:{region}:{account}:secret:{name}"
        raise ValueError(f"no ARN rule for {kind} ({logical_id})")

    def vector_index(self, logical_id: str) -> tuple[str, str]:
        """An AWS::S3Vectors::Index's vector bucket name and index name."""
        props = self.properties(logical_id)
        if "VectorBucketName" in props:
            bucket = str(self.resolve(props["VectorBucketName"]))
        else:
            bucket = str(self.resolve(props["VectorBucketArn"])).rsplit("/", 1)[1]
        return bucket, str(self.resolve(props["IndexName"]))

    def _pseudo(self, name: str) -> str | None:
        return {
            "AWS::StackName": self.names.stack_name,
            "AWS::Region": self.names.region,
            "AWS::AccountId": self.names.account_id,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
        }.get(name)

    def _ref(self, name: str) -> Any:
        pseudo = self._pseudo(name)
        if pseudo is not None:
            return pseudo
        if name in self.parameters:
            return self.parameters[name]
        kind = self.resource(name)["Type"]
        if kind == "AWS::SQS::Queue":
            return self.queue_url(name)
        if kind == "AWS::SecretsManager::Secret":
            return self.arn(name)
        return self.physical_name(name)

    def _get_att(self, logical_id: str, attribute: str) -> str:
        if attribute in ("Arn", "VectorBucketArn", "IndexArn"):
            return self.arn(logical_id)
        if attribute == "QueueName":
            return self.physical_name(logical_id)
        if attribute == "QueueUrl":
            return self.queue_url(logical_id)
        if attribute == "Id":  # CloudFront's ids (distribution, key group, OAC): what Ref gives
            return self.physical_name(logical_id)
        if attribute == "DomainName" and (
            self.resource(logical_id)["Type"] == "AWS::CloudFront::Distribution"
        ):
            # d + 13 lowercase alphanumerics on AWS. Nothing answers there: the local stack
            # serves its own CDN and sets CDN_BASE_URL to it.
            return f"d{logical_id.lower()[:13]:0<13}.cloudfront.net"
        raise ValueError(f"unsupported Fn::GetAtt {logical_id}.{attribute}")

    def queue_url(self, logical_id: str) -> str:
        return f"https://sqs.{self.names.region}.amazonaws.com/{self.names.account_id}/{self.physical_name(logical_id)}"

    def resolve(self, value: Any) -> Any:
        """Resolve Ref, Fn::Sub, Fn::GetAtt, Fn::Join and Fn::If (conditions on the
        parameters' values) against the local names; AWS::NoValue drops what holds it."""
        if isinstance(value, list):
            items = (self.resolve(v) for v in value)
            return [item for item in items if item is not _NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref":
                return _NO_VALUE if arg == "AWS::NoValue" else self._ref(arg)
            if key == "Fn::If":
                name, when_true, when_false = arg
                return self.resolve(when_true if self.condition(name) else when_false)
            if key == "Fn::GetAtt":
                logical_id, attribute = arg if isinstance(arg, list) else str(arg).split(".", 1)
                return self._get_att(logical_id, attribute)
            if key == "Fn::Sub":
                return self._sub(arg)
            if key == "Fn::Join":
                separator, parts = arg
                return separator.join(str(p) for p in self.resolve(parts))
        resolved = {k: self.resolve(v) for k, v in value.items()}
        return {k: v for k, v in resolved.items() if v is not _NO_VALUE}

    def _sub(self, arg: Any) -> str:
        text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in variables:
                return str(self.resolve(variables[name]))
            if "." in name and self._pseudo(name) is None:
                logical_id, attribute = name.split(".", 1)
                return self._get_att(logical_id, attribute)
            return str(self._ref(name))

        return re.sub(r"\$\{([^}!]+)\}", replace, text)

    # --- what tests and the local stack need -----------------------------------------------

    def table_definition(self, logical_id: str) -> dict[str, Any]:
        """CreateTable arguments for a table, straight from its template properties."""
        props = self.resolve(self.properties(logical_id))
        definition = {key: props[key] for key in _CREATE_TABLE_KEYS if key in props}
        if "SSESpecification" in definition:
            # CloudFormation spells it SSEEnabled, the DynamoDB API Enabled.
            sse = dict(definition["SSESpecification"])
            sse["Enabled"] = sse.pop("SSEEnabled", False)
            definition["SSESpecification"] = sse
        definition["TableName"] = self.physical_name(logical_id)
        return definition

    def function_environment(self, logical_id: str) -> dict[str, str]:
        """The environment a function gets: Globals merged with its own, refs resolved."""
        merged: dict[str, Any] = {}
        global_env = self.data.get("Globals", {}).get("Function", {}).get("Environment", {})
        merged.update(global_env.get("Variables", {}))
        own_env = self.properties(logical_id).get("Environment", {})
        merged.update(own_env.get("Variables", {}))
        return {key: str(self.resolve(value)) for key, value in merged.items()}

    def function_handler(self, logical_id: str) -> tuple[Path, str]:
        """(code directory, "module.function") of a function, as SAM would package it."""
        props = self.properties(logical_id)
        code_uri = props.get("CodeUri") or self.data.get("Globals", {}).get("Function", {}).get(
            "CodeUri"
        )
        return PROJECT_ROOT / str(code_uri), str(props["Handler"])

    def queue_attributes(self, logical_id: str) -> dict[str, str]:
        """CreateQueue attributes of a queue, from its template properties."""
        props = self.resolve(self.properties(logical_id))
        attributes: dict[str, str] = {}
        for key in (
            "VisibilityTimeout",
            "MessageRetentionPeriod",
            "DelaySeconds",
            "ReceiveMessageWaitTimeSeconds",
            "SqsManagedSseEnabled",
        ):
            if key in props:
                value = props[key]
                attributes[key] = str(value).lower() if isinstance(value, bool) else str(value)
        if "RedrivePolicy" in props:
            attributes["RedrivePolicy"] = json.dumps(props["RedrivePolicy"])
        return attributes

    def queues_in_creation_order(self) -> list[str]:
        """Dead-letter queues first: a redrive policy must name an existing queue."""
        queues = self.of_type("AWS::SQS::Queue")
        return sorted(queues, key=lambda q: "RedrivePolicy" in self.properties(q))

    def sqs_sources(self) -> list[SqsSource]:
        sources = []
        for function in self.functions:
            for event in self.properties(function).get("Events", {}).values():
                if event.get("Type") == "SQS":
                    props = event["Properties"]
                    queue = props["Queue"]["Fn::GetAtt"][0]
                    sources.append(
                        SqsSource(
                            function=function,
                            queue=queue,
                            batch_size=int(props.get("BatchSize", 10)),
                            partial_failures="ReportBatchItemFailures"
                            in props.get("FunctionResponseTypes", []),
                        )
                    )
        return sources

    def s3_sources(self) -> list[S3Source]:
        sources = []
        for function in self.functions:
            for event in self.properties(function).get("Events", {}).values():
                if event.get("Type") == "S3":
                    props = event["Properties"]
                    rules = props.get("Filter", {}).get("S3Key", {}).get("Rules", [])
                    prefix = next((r["Value"] for r in rules if r["Name"] == "prefix"), "")
                    events = props["Events"]
                    sources.append(
                        S3Source(
                            function=function,
                            bucket=props["Bucket"]["Ref"],
                            events=tuple(events if isinstance(events, list) else [events]),
                            prefix=prefix,
                        )
                    )
        return sources

    def schedule_sources(self) -> list[ScheduleSource]:
        """The functions' Schedule events; only rate() expressions are supported locally."""
        sources = []
        for function in self.functions:
            for name, event in self.properties(function).get("Events", {}).items():
                if event.get("Type") in ("Schedule", "ScheduleV2"):
                    props = event["Properties"]
                    expression = str(props.get("Schedule") or props.get("ScheduleExpression"))
                    match = _RATE.match(expression)
                    if match is None:
                        raise ValueError(f"{function}.{name}: only rate() runs locally")
                    unit = match.group(2).rstrip("s")
                    seconds = int(match.group(1)) * _UNIT_SECONDS[unit]
                    sources.append(ScheduleSource(function, name, float(seconds)))
        return sources

    def bus_rule_sources(self) -> list[BusRuleSource]:
        """The functions' EventBridgeRule events on one of the template's buses."""
        sources = []
        for function in self.functions:
            for name, event in self.properties(function).get("Events", {}).items():
                if event.get("Type") == "EventBridgeRule":
                    props = event["Properties"]
                    retry = props.get("RetryPolicy", {})
                    sources.append(
                        BusRuleSource(
                            function=function,
                            name=name,
                            bus=props["EventBusName"]["Ref"],
                            pattern=props["Pattern"],
                            max_retries=int(retry.get("MaximumRetryAttempts", 185)),
                        )
                    )
        return sources

    def websocket_api(self) -> tuple[str, str] | None:
        """(API id, stage name) of the template's WebSocket API, if it has one."""
        for api in self.of_type("AWS::ApiGatewayV2::Api"):
            if self.properties(api).get("ProtocolType") != "WEBSOCKET":
                continue
            for stage in self.of_type("AWS::ApiGatewayV2::Stage"):
                if self.properties(stage).get("ApiId") == {"Ref": api}:
                    return self.physical_name(api), self.physical_name(stage)
        return None

    def websocket_routes(self) -> dict[str, str]:
        """Route key ($connect, $disconnect...) -> the function its Lambda proxy integration
        invokes, for the template's WebSocket API."""
        routes = {}
        for route in self.of_type("AWS::ApiGatewayV2::Route"):
            props = self.properties(route)
            integration = re.fullmatch(r"integrations/\$\{(\w+)\}", props["Target"]["Fn::Sub"])
            if integration is None:
                raise ValueError(f"{route}: Target is not integrations/${{Integration}}")
            uri = self.properties(integration.group(1))["IntegrationUri"]["Fn::Sub"]
            function = re.search(r"\$\{(\w+)\.Arn\}", uri)
            if function is None:
                raise ValueError(f"{route}: the integration invokes no function of the template")
            routes[str(props["RouteKey"])] = function.group(1)
        return routes

    def http_routes(self) -> list[Route]:
        routes = []
        for function in self.functions:
            for event in self.properties(function).get("Events", {}).values():
                if event.get("Type") == "HttpApi":
                    props = event["Properties"]
                    routes.append(Route(props["Method"].upper(), props["Path"], function))
        return routes

    def http_jwt_rules(self) -> dict[str, JwtRule]:
        """Route key ("GET /images/{imageId}") -> what the JWT authorizer checks there, for the
        routes whose operation in an HttpApi's `DefinitionBody` requires a JWT security scheme,
        with the parameters' values (so none when JwtIssuer is empty); other routes are open."""
        rules: dict[str, JwtRule] = {}
        for api in self.of_type("AWS::Serverless::HttpApi"):
            body = self.resolve(self.properties(api).get("DefinitionBody") or {})
            schemes = body.get("components", {}).get("securitySchemes") or {}
            authorizers = {
                name: scheme["x-amazon-apigateway-authorizer"]
                for name, scheme in schemes.items()
                if scheme.get("x-amazon-apigateway-authorizer", {}).get("type") == "jwt"
            }
            for path, operations in (body.get("paths") or {}).items():
                for method, operation in operations.items():
                    for requirement in operation.get("security") or []:
                        for name, scopes in requirement.items():
                            if name in authorizers:
                                key = f"{method.upper()} {path}"
                                rules[key] = _jwt_rule(authorizers[name], scopes)
        return rules


def _jwt_rule(authorizer: Mapping[str, Any], scopes: list[str]) -> JwtRule:
    source = str(authorizer["identitySource"])
    if not source.startswith("$request.header."):
        raise ValueError(f"unsupported JWT identity source {source}")
    config = authorizer["jwtConfiguration"]
    audience = config.get("audience") or []
    return JwtRule(
        issuer=str(config["issuer"]),
        audiences=tuple(audience if isinstance(audience, list) else [audience]),
        header=source.removeprefix("$request.header.").lower(),
        scopes=tuple(scopes),
    )
