"""template.yaml is the single source of truth: the code's models, routes, settings and
packaging must agree with it."""

from __future__ import annotations

import re
import tomllib
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from imagepipe.adapters.records import (
    ConnectionRecord,
    HashClaim,
    ImageRecord,
    PhashBand,
    SessionLinkRecord,
    TicketRecord,
)
from imagepipe.api.app import openapi_json
from imagepipe.api.routes import ROUTERS
from imagepipe.domain.search import EMBEDDING_DIMENSION
from imagepipe.domain.uploads import MIN_PART_SIZE, MULTIPART_OPEN_FOR
from imagepipe.settings import (
    MB_PER_VCPU,
    EventsNotifierSettings,
    EventsSocketSettings,
    ImagesApiSettings,
    IngestSettings,
    MetadataSettings,
    PresignUploadSettings,
    SweeperSettings,
    VariantsSettings,
)
from imagepipe_local.template import Template

ROOT = Path(__file__).resolve().parents[1]


def _keys(schema: list[dict[str, str]]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((k["KeyType"], k["AttributeName"]) for k in schema))


def _schema(model: Any) -> dict[str, Any]:
    schema = model._get_schema()
    return {
        "keys": _keys(schema["key_schema"]),
        "attributes": {
            (a["AttributeName"], a["AttributeType"]) for a in schema["attribute_definitions"]
        },
        "indexes": sorted(
            (i["index_name"], _keys(i["key_schema"]), i["projection"]["ProjectionType"])
            for i in schema.get("global_secondary_indexes", [])
            + schema.get("local_secondary_indexes", [])
        ),
    }


def _table(template: Template, logical_id: str) -> dict[str, Any]:
    props = template.table_definition(logical_id)
    indexes = props.get("GlobalSecondaryIndexes", []) + props.get("LocalSecondaryIndexes", [])
    return {
        "keys": _keys(props["KeySchema"]),
        "attributes": {
            (a["AttributeName"], a["AttributeType"]) for a in props["AttributeDefinitions"]
        },
        "indexes": sorted(
            (i["IndexName"], _keys(i["KeySchema"]), i["Projection"]["ProjectionType"])
            for i in indexes
        ),
    }


@pytest.mark.parametrize(
    ("models", "table"),
    [
        ((ImageRecord, HashClaim, PhashBand), "ImagesTable"),
        ((SessionLinkRecord,), "SessionImagesTable"),
        ((ConnectionRecord, TicketRecord), "ConnectionsTable"),
    ],
)
def test_pynamodb_models_match_the_template_tables(
    template: Template, models: tuple[Any, ...], table: str
) -> None:
    # Every model of a table has the table's key; together they define its attributes and
    # indexes, exactly.
    # Given the schemas PynamoDB derives from the models that share the table
    schemas = [_schema(model) for model in models]
    # When the template's definition of that table is read
    expected = _table(template, table)
    # Then each model has its key, and together they declare exactly its attributes and indexes
    assert all(schema["keys"] == expected["keys"] for schema in schemas)
    assert set().union(*(schema["attributes"] for schema in schemas)) == expected["attributes"]
    assert sorted({i for schema in schemas for i in schema["indexes"]}) == expected["indexes"]


def _openapi_routes() -> set[tuple[str, str]]:
    import json

    document = json.loads(openapi_json(*ROUTERS))
    return {(method.upper(), path) for path, ops in document["paths"].items() for method in ops}


def test_every_template_route_is_served_by_the_code_and_vice_versa(template: Template) -> None:
    # Given the template's HTTP routes / When the routers' OpenAPI document is generated
    # Then both name the same methods and paths, none missing on either side
    assert {(r.method, r.path) for r in template.http_routes()} == _openapi_routes()


def test_each_function_serves_exactly_its_template_routes(template: Template) -> None:
    # Given the app of each function that serves HTTP, by its logical id in the template
    import images_api
    import presign_upload

    apps = {"PresignUploadFunction": presign_upload.app, "ImagesApiFunction": images_api.app}
    for function, app in apps.items():
        # When the routes its app registered and those the template gives it are collected
        routes = app._static_routes + app._dynamic_routes
        served = {(route.method, route.openapi_path) for route in routes}
        declared = {(r.method, r.path) for r in template.http_routes() if r.function == function}
        # Then they are the same: no function serves another's route, or misses one of its own
        assert served == declared, function


def test_committed_openapi_json_is_current() -> None:
    # Given the openapi.json in the repository
    committed = (ROOT / "openapi.json").read_text(encoding="utf-8")
    # When the document is generated from the routers now / Then it is exactly what is committed
    assert committed == openapi_json(*ROUTERS), "run `make openapi`"


@pytest.mark.parametrize(
    ("function", "settings"),
    [
        ("PresignUploadFunction", PresignUploadSettings),
        ("ImagesApiFunction", ImagesApiSettings),
        ("IngestFunction", IngestSettings),
        ("VariantsFunction", VariantsSettings),
        ("MetadataFunction", MetadataSettings),
        ("SweeperFunction", SweeperSettings),
        ("EventsSocketFunction", EventsSocketSettings),
        ("EventsNotifierFunction", EventsNotifierSettings),
    ],
)
def test_template_environment_satisfies_the_function_settings(
    template: Template, function: str, settings: type[BaseModel]
) -> None:
    # Given the environment the template gives the function
    env = template.function_environment(function)
    # When the settings its code requires are listed
    required = {f.alias for f in settings.model_fields.values() if f.is_required()}
    # Then each is set, and the settings load from that environment (plus the region Lambda sets)
    assert required <= set(env)
    settings.model_validate({"AWS_REGION": "us-east-1", **env})


def test_the_local_decode_budget_is_the_smallest_processing_function(
    template: Template,
) -> None:
    # Given the memory of the functions that decode images, as the template sets it
    memory = {
        function: int(template.resolve(template.properties(function)["MemorySize"]))
        for function in ("IngestFunction", "VariantsFunction", "MetadataFunction")
    }
    # When their settings are read without Lambda's AWS_LAMBDA_FUNCTION_MEMORY_SIZE (the local
    # stack runs every handler in one process)
    default = IngestSettings.model_fields["memory_mb"].default
    # Then the decode budget is that of the smallest: nothing passes locally that one refuses
    assert default == min(memory.values())
    assert VariantsSettings.model_fields["memory_mb"].default == default
    assert MetadataSettings.model_fields["memory_mb"].default == default


def test_the_variants_encoders_match_the_vcpus_its_memory_buys(template: Template) -> None:
    # Given VariantsFunction's memory and environment, as Lambda would give them
    memory = int(template.resolve(template.properties("VariantsFunction")["MemorySize"]))
    env = template.function_environment("VariantsFunction")
    settings = VariantsSettings.model_validate(
        {"AWS_REGION": "us-east-1", **env, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory)}
    )
    # Then it gets exactly one vCPU (1,769 MB) and encodes one output at a time: a second
    # encode on one vCPU adds memory, not speed; no worker count is pinned in the template
    assert memory == MB_PER_VCPU
    assert "ENCODE_WORKERS" not in env
    assert (settings.vcpus, settings.workers) == (1, 1)
    # And a bigger function would get a pool per vCPU; an explicit setting still wins
    bigger = settings.model_copy(update={"memory_mb": 3 * MB_PER_VCPU + 100})
    assert (bigger.vcpus, bigger.workers) == (3, 3)
    pinned = settings.model_copy(update={"memory_mb": 10240, "encode_workers": 2})
    assert pinned.workers == 2


def test_presign_expiry_is_short(template: Template) -> None:
    # Given the template's PresignExpirySeconds parameter
    spec = template.data["Parameters"]["PresignExpirySeconds"]
    # When its default and maximum are read / Then an upload form lives 5 minutes, 15 at most
    assert spec["Default"] == 300
    assert spec["MaxValue"] <= 900
    # And the function's settings refuse anything over 15 minutes too
    field = PresignUploadSettings.model_fields["presign_expiry_seconds"]
    assert any(getattr(rule, "le", None) == 900 for rule in field.metadata)


def test_lambda_requirements_match_the_runtime_dependencies() -> None:
    # Given the project's runtime dependencies, less boto3 (the Lambda runtime provides it)
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    runtime = {d for d in project["project"]["dependencies"] if not d.startswith("boto3")}
    # When the requirements of the functions and of the imaging layer are read
    listed = set()
    for path in (ROOT / "functions" / "requirements.txt", ROOT / "layers/imaging/requirements.txt"):
        lines = path.read_text(encoding="utf-8").splitlines()
        listed |= {line.strip() for line in lines if line.strip() and not line.startswith("#")}
    # Then between them they list exactly those, with the same version ranges
    assert listed == runtime


def test_pending_records_expire_through_the_tables_ttl_attribute(template: Template) -> None:
    from pynamodb.attributes import TTLAttribute

    # Given the images table's time to live, which is switched on
    ttl = template.properties("ImagesTable")["TimeToLiveSpecification"]
    assert ttl["Enabled"] is True
    # When the image record's expires_at attribute is looked up
    attribute = ImageRecord.get_attributes()["expires_at"]
    # Then it is a TTL attribute, stored under the name the table expires items by
    assert isinstance(attribute, TTLAttribute)
    assert attribute.attr_name == ttl["AttributeName"]


def test_staging_objects_expire_after_a_day(template: Template) -> None:
    # Given the bucket's lifecycle rules
    rules = template.properties("ImagesBucket")["LifecycleConfiguration"]["Rules"]
    # When those for the staging prefix uploads/ are picked out
    staging = [r for r in rules if r.get("Prefix") == "uploads/"]
    # Then there is one, and it expires what is left there after a day
    assert len(staging) == 1
    assert staging[0]["ExpirationInDays"] == 1


def test_incomplete_multipart_uploads_are_aborted_after_a_day(template: Template) -> None:
    # Given the bucket's lifecycle rules
    rules = template.properties("ImagesBucket")["LifecycleConfiguration"]["Rules"]
    # When the rules aborting incomplete multipart uploads are picked out
    aborting = [r for r in rules if "AbortIncompleteMultipartUpload" in r]
    # Then one, enabled, for the whole bucket (parts are billed until aborted), after a day:
    # what POST /uploads tells a client as the upload's expiresAt
    assert len(aborting) == 1
    (rule,) = aborting
    assert rule["Status"] == "Enabled"
    assert "Prefix" not in rule
    assert "Filter" not in rule
    assert rule["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"] == 1
    assert timedelta(days=1) == MULTIPART_OPEN_FOR


def test_multipart_settings_follow_the_template(template: Template) -> None:
    # Given the presign function's environment as the template sets it
    environment = template.function_environment("PresignUploadFunction")
    # Then the threshold and part size come from their parameters, within S3's limits
    assert int(environment["MULTIPART_THRESHOLD_BYTES"]) == 16 * 1024 * 1024
    assert int(environment["MULTIPART_PART_SIZE_BYTES"]) == 8 * 1024 * 1024
    assert int(environment["MAX_UPLOAD_BYTES"]) == 256 * 1024 * 1024
    part = template.data["Parameters"]["MultipartPartSizeBytes"]
    assert int(part["MinValue"]) == MIN_PART_SIZE


def test_bucket_blocks_public_access(template: Template) -> None:
    # Given the bucket's public access block
    block = template.properties("ImagesBucket")["PublicAccessBlockConfiguration"]
    # When its four settings are read / Then every one is on: no ACL or policy can open it up
    assert all(
        block[k] is True
        for k in (
            "BlockPublicAcls",
            "BlockPublicPolicy",
            "IgnorePublicAcls",
            "RestrictPublicBuckets",
        )
    )


@pytest.mark.parametrize(
    ("queue", "function"),
    [("VariantsQueue", "VariantsFunction"), ("MetadataQueue", "MetadataFunction")],
)
def test_queues_outlast_their_consumers_and_dead_letter_after_three_receives(
    template: Template, queue: str, function: str
) -> None:
    # Given a work queue and the function that consumes it / When the queue's settings are read
    props = template.properties(queue)
    # Then a received message stays hidden for at least six times the function's timeout,
    # and is dead-lettered on its third receive
    assert props["VisibilityTimeout"] >= 6 * template.properties(function)["Timeout"]
    assert props["RedrivePolicy"]["maxReceiveCount"] == 3
    # And the dead-letter queue keeps messages for 14 days
    dlq = props["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
    assert template.properties(dlq)["MessageRetentionPeriod"] == 14 * 24 * 3600
    # And the function reports partial batch failures, so only failed messages come back
    source = next(s for s in template.sqs_sources() if s.function == function)
    assert source.partial_failures


def test_every_dead_letter_queue_has_an_alarm(template: Template) -> None:
    # Given the template's dead-letter queues
    dlqs = {q for q in template.of_type("AWS::SQS::Queue") if "DeadLetter" in q}
    # When the queues its alarms watch are collected
    alarmed = {
        template.properties(a)["Dimensions"][0]["Value"]["Fn::GetAtt"][0]
        for a in template.of_type("AWS::CloudWatch::Alarm")
        if template.properties(a)["Dimensions"][0]["Name"] == "QueueName"
    }
    # Then they are the same queues: every dead-letter queue is watched
    assert dlqs == alarmed


def test_every_function_has_error_and_throttle_alarms_and_a_log_retention(
    template: Template,
) -> None:
    # Given the template's alarms / When the metrics they watch are gathered per function
    watched: dict[str, set[str]] = {}
    for alarm in template.of_type("AWS::CloudWatch::Alarm"):
        props = template.properties(alarm)
        dimension = props["Dimensions"][0]
        if dimension["Name"] == "FunctionName":
            watched.setdefault(dimension["Value"]["Ref"], set()).add(props["MetricName"])
    # Then every function has an Errors and a Throttles alarm, and no alarm on anything else
    assert watched == {f: {"Errors", "Throttles"} for f in template.functions}
    # And every function has its own log group, kept as long as the LogRetentionDays parameter says
    groups = {
        template.properties(g)["LogGroupName"]["Fn::Sub"]: template.properties(g)
        for g in template.of_type("AWS::Logs::LogGroup")
        if "LogGroupName" in template.properties(g)  # the API's access log is named by AWS
    }
    assert set(groups) == {f"/aws/lambda/${{{f}}}" for f in template.functions}
    assert all(g["RetentionInDays"] == {"Ref": "LogRetentionDays"} for g in groups.values())


def test_the_bucket_refuses_plain_http(template: Template) -> None:
    # Given the template's one bucket policy / When its statement that denies is read (the
    # other lets the CDN read images/, tests/test_deploy_template.py)
    (policy,) = template.of_type("AWS::S3::BucketPolicy")
    statements = template.properties(policy)["PolicyDocument"]["Statement"]
    (statement,) = [s for s in statements if s["Effect"] == "Deny"]
    # Then it denies every S3 action to a request that was not sent over TLS
    assert statement["Effect"] == "Deny"
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert statement["Action"] == "s3:*"


def test_ingest_is_triggered_by_uploads_only_and_dead_letters_after_two_retries(
    template: Template,
) -> None:
    # Given the template / When the S3 event sources of its functions are listed
    (source,) = template.s3_sources()
    # Then there is one: Ingest, for objects under uploads/ only
    assert (source.function, source.prefix) == ("IngestFunction", "uploads/")
    # And a failed Ingest invocation is retried twice, then sent to Ingest's dead-letter queue
    invoke = template.properties("IngestFunction")["EventInvokeConfig"]
    assert invoke["MaximumRetryAttempts"] == 2
    assert invoke["DestinationConfig"]["OnFailure"]["Destination"] == {
        "Fn::GetAtt": ["IngestDeadLetterQueue", "Arn"]
    }


def test_only_the_processing_functions_get_the_imaging_layer(template: Template) -> None:
    # Given the template's functions / When those with layers are picked out
    with_layer = {f for f in template.functions if template.properties(f).get("Layers")}
    # Then they are Ingest, Variants and Metadata: the API functions go without Pillow
    assert with_layer == {"IngestFunction", "VariantsFunction", "MetadataFunction"}


def test_the_readme_error_table_lists_every_code_of_the_catalogue() -> None:
    # Given the error catalogue and the README's error table
    from imagepipe.domain.errors import ErrorCode

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = readme[readme.index("### Errors") :].split("\n## ", 1)[0]

    # When the codes its rows name are collected
    rows = [line for line in table.splitlines() if line.startswith("| ")]
    codes_column = [row.split("|")[2] for row in rows]
    documented = {code for cell in codes_column for code in re.findall(r"`([a-z0-9_]+)`", cell)}

    # Then every code the service can hand out is documented, and nothing else is
    assert documented == {str(code) for code in ErrorCode}


def test_pre_commit_runs_the_ruff_that_make_lint_runs() -> None:
    # Given the dev extra's ruff pin and the pre-commit hooks' ruff
    dev = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    (pinned,) = [d.split(";")[0].strip() for d in dev["dev"] if d.startswith("ruff")]
    hooks = (ROOT / ".pre-commit-config.yaml").read_text(encoding="utf-8")

    # When the hooks' ruff requirements are read
    used = set(re.findall(r'"(ruff==[0-9.]+)"', hooks))

    # Then both run one and the same version
    assert used == {pinned.split("  ")[0]}


def test_the_openapi_document_states_the_sha256_pattern_the_server_accepts() -> None:
    import json

    from imagepipe.domain.validation import SHA256_PATTERN

    # Given the OpenAPI document / When the file spec's sha256 is read
    sha256 = json.loads(openapi_json(*ROUTERS))["components"]["schemas"]["FileSpec"]
    stated = re.compile(sha256["properties"]["sha256"]["pattern"])
    # Then it accepts exactly what the server accepts: 64 hex digits, either case (the server
    # lowercases before its own check)
    for candidate in ("a" * 64, "A" * 64, "0" * 63, "g" * 64, "a" * 65):
        assert bool(stated.match(candidate)) == bool(SHA256_PATTERN.match(candidate.lower()))


def test_the_workers_decode_with_the_limits_ingest_checked(template: Template) -> None:
    # Given the functions that decode images
    functions = ("IngestFunction", "VariantsFunction", "MetadataFunction")
    # When their pixel and frame limits are read
    limits = {
        (env["MAX_PIXELS"], env["MAX_FRAMES"])
        for env in (template.function_environment(f) for f in functions)
    }
    # Then they are one and the same (an image Ingest accepts is one a worker will decode)
    assert limits == {
        (str(template.parameters["MaxPixels"]), str(template.parameters["MaxFrames"]))
    }


def test_the_functions_that_spool_an_image_have_room_in_tmp_for_the_largest_upload(
    template: Template,
) -> None:
    # Given the functions that copy an upload or an original to /tmp (imagepipe.domain.spool)
    functions = ("IngestFunction", "VariantsFunction", "MetadataFunction")
    # When their ephemeral storage is read (MB: counted as 10^6 bytes, the smaller reading)
    sizes = {f: template.properties(f)["EphemeralStorage"]["Size"] * 1_000_000 for f in functions}
    # Then each holds the largest upload, plus a reserve for anything else in /tmp
    largest = int(template.parameters["MaxUploadBytes"])
    reserve = 64 * 1_000_000
    assert all(size >= largest + reserve for size in sizes.values()), (sizes, largest)


def test_the_vector_index_fits_the_embeddings_and_is_the_one_the_functions_use(
    template: Template,
) -> None:
    # Given the template's vector index / Then it holds the embeddings' dimension, by cosine
    index = template.properties("VectorIndex")
    assert (index["Dimension"], index["DataType"], index["DistanceMetric"]) == (
        EMBEDDING_DIMENSION,
        "float32",
        "cosine",
    )
    # And the functions that write, read or delete vectors are given that index's ARN
    for function in ("MetadataFunction", "ImagesApiFunction"):
        environment = template.function_environment(function)
        assert environment["VECTOR_INDEX_ARN"] == template.arn("VectorIndex"), function
