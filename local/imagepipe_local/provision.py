"""Create template.yaml's buckets, tables, queues and vector indexes in an emulator, as
CloudFormation would: the local stack's moto server (an endpoint URL) and the tests' moto
decorator (none) alike."""

from __future__ import annotations

import json
import secrets
from typing import TYPE_CHECKING, Any

import boto3

from imagepipe_local.template import Template

if TYPE_CHECKING:
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sqs import SQSClient

# S3 cannot invoke a function outside AWS: the buckets notify this queue instead, and the local
# stack's event sources (sources.py) invoke the subscribed functions from it.
NOTIFICATION_QUEUE = "imagepipe-local-s3-notifications"


def provision(
    template: Template,
    *,
    endpoint_url: str | None = None,
    region: str | None = None,
    max_visibility_timeout: int | None = None,
    notifications: bool = True,
) -> None:
    """Create every queue (redrive included), table (TTL included), bucket (CORS included),
    event bus and generated secret of the template. `max_visibility_timeout` caps the queues'
    visibility timeouts; with `notifications`, each bucket's S3 event sources are wired to
    NOTIFICATION_QUEUE."""
    region = region or template.names.region
    s3 = boto3.client("s3", region_name=region, endpoint_url=endpoint_url)
    dynamodb = boto3.client("dynamodb", region_name=region, endpoint_url=endpoint_url)
    sqs = boto3.client("sqs", region_name=region, endpoint_url=endpoint_url)

    for queue in template.queues_in_creation_order():
        attributes = template.queue_attributes(queue)
        if max_visibility_timeout is not None and "VisibilityTimeout" in attributes:
            capped = min(int(attributes["VisibilityTimeout"]), max_visibility_timeout)
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

    for bucket in template.of_type("AWS::S3::Bucket"):
        name = template.physical_name(bucket)
        s3.create_bucket(Bucket=name)
        cors = template.resolve(template.properties(bucket).get("CorsConfiguration"))
        if cors:
            s3.put_bucket_cors(Bucket=name, CORSConfiguration={"CORSRules": _cors_rules(cors)})

    vectors = boto3.client("s3vectors", region_name=region, endpoint_url=endpoint_url)
    for bucket in template.of_type("AWS::S3Vectors::VectorBucket"):
        vectors.create_vector_bucket(vectorBucketName=template.physical_name(bucket))
    for index in template.of_type("AWS::S3Vectors::Index"):
        props = template.properties(index)
        bucket_name, index_name = template.vector_index(index)
        vectors.create_index(
            vectorBucketName=bucket_name,
            indexName=index_name,
            dataType=props["DataType"],
            dimension=int(props["Dimension"]),
            distanceMetric=props["DistanceMetric"],
        )

    events = boto3.client("events", region_name=region, endpoint_url=endpoint_url)
    for bus in template.of_type("AWS::Events::EventBus"):
        events.create_event_bus(Name=template.physical_name(bus))

    # GenerateSecretString: a fresh random value at each start, as a new deploy would get.
    manager = boto3.client("secretsmanager", region_name=region, endpoint_url=endpoint_url)
    for secret in template.of_type("AWS::SecretsManager::Secret"):
        manager.create_secret(
            Name=template.physical_name(secret), SecretString=secrets.token_urlsafe(48)
        )

    if notifications:
        _wire_notifications(template, s3, sqs)


def _wire_notifications(template: Template, s3: S3Client, sqs: SQSClient) -> None:
    """Each bucket's S3 event sources (events and key prefix) as notifications to one queue."""
    url = sqs.create_queue(QueueName=NOTIFICATION_QUEUE)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    for bucket in template.of_type("AWS::S3::Bucket"):
        configurations = [
            {
                "Id": f"{source.function}-{source.prefix}",
                "QueueArn": arn,
                "Events": list(source.events),
                "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": source.prefix}]}},
            }
            for source in template.s3_sources()
            if source.bucket == bucket
        ]
        if configurations:
            s3.put_bucket_notification_configuration(
                Bucket=template.physical_name(bucket),
                NotificationConfiguration={"QueueConfigurations": configurations},  # type: ignore[typeddict-item]
            )


def rule_to_queue(
    events: EventBridgeClient,
    sqs: SQSClient,
    *,
    bus: str,
    rule: str,
    pattern: dict[str, Any],
    queue: str,
    visibility_timeout: int,
) -> str:
    """A rule on a bus of the emulator whose target is a queue (created here): how the local
    stack receives what EventBridge would deliver to a function or an API destination. Returns
    the queue's URL."""
    url = sqs.create_queue(
        QueueName=queue, Attributes={"VisibilityTimeout": str(visibility_timeout)}
    )["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    events.put_rule(Name=rule, EventBusName=bus, EventPattern=json.dumps(pattern))
    events.put_targets(Rule=rule, EventBusName=bus, Targets=[{"Id": queue, "Arn": arn}])
    return url


def _cors_rules(cors: dict[str, Any]) -> list[Any]:
    """CloudFormation's CorsRules spelled as the S3 API wants them."""
    renamed = {"MaxAge": "MaxAgeSeconds", "ExposedHeaders": "ExposeHeaders", "Id": "ID"}
    return [{renamed.get(k, k): v for k, v in rule.items()} for rule in cors["CorsRules"]]
