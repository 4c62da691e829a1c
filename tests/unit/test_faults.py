"""The fault layer of `imagepipe local --fault-rate`: which attempts fail, and that each error
reaches the code exactly as the service's own error would (botocore parses it, no network)."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from imagepipe_local.faults import Fault, FaultInjector, error_response

NO_RETRY = Config(retries={"mode": "standard", "total_max_attempts": 1})


def failing_client(service: str, fault: Fault) -> Any:
    """A client whose every request is answered with the fault, as the layer answers it."""
    client = boto3.session.Session().client(
        service,  # type: ignore[call-overload]
        region_name="us-east-1",
        endpoint_url="http://127.0.0.1:9",
        aws_access_key_id="local",
        aws_secret_access_key="local",
        config=NO_RETRY,
    )
    client.meta.events.register("before-send", lambda request, **_: error_response(request, fault))
    return client


@pytest.mark.parametrize(
    ("service", "call", "fault"),
    [
        ("s3", lambda c: c.get_object(Bucket="b", Key="k"), Fault(503, "SlowDown", "slow")),
        (
            "s3",
            lambda c: c.put_object(Bucket="b", Key="k", Body=b"x"),
            Fault(500, "InternalError", "x"),
        ),
        (
            "dynamodb",
            lambda c: c.get_item(TableName="t", Key={"pk": {"S": "a"}}),
            Fault(400, "ProvisionedThroughputExceededException", "slow down"),
        ),
        (
            "sqs",
            lambda c: c.send_message(QueueUrl="http://127.0.0.1:9/1/q", MessageBody="m"),
            Fault(500, "InternalFailure", "x"),
        ),
        (
            "events",
            lambda c: c.put_events(Entries=[{"Source": "s", "DetailType": "d", "Detail": "{}"}]),
            Fault(500, "InternalFailure", "x"),
        ),
        (
            "apigatewaymanagementapi",
            lambda c: c.post_to_connection(ConnectionId="c", Data=b"x"),
            Fault(500, "InternalServerErrorException", "x"),
        ),
    ],
)
def test_each_protocol_carries_the_error_the_service_would(
    service: str, call: Any, fault: Fault
) -> None:
    # Given a client of the service whose request is answered by the fault layer
    client = failing_client(service, fault)
    # When the call is made
    with pytest.raises(ClientError) as raised:
        call(client)
    # Then botocore parsed the service's error code and status, as from AWS itself
    error = raised.value.response
    assert error["Error"]["Code"] == fault.code
    assert error["ResponseMetadata"]["HTTPStatusCode"] == fault.status


def test_the_standard_retry_mode_retries_each_injected_error() -> None:
    # Given a client retrying in standard mode (3 attempts) against a throttled DynamoDB
    attempts = []
    fault = Fault(400, "ThrottlingException", "slow down")
    client = boto3.session.Session().client(
        "dynamodb",
        region_name="us-east-1",
        endpoint_url="http://127.0.0.1:9",
        aws_access_key_id="local",
        aws_secret_access_key="local",
        config=Config(retries={"mode": "standard", "total_max_attempts": 3}),
    )

    def answer(request: Any, **_: Any) -> Any:
        attempts.append(request.url)
        return error_response(request, fault)

    client.meta.events.register("before-send", answer)
    # When a call is made, Then it fails only after every attempt was throttled
    with pytest.raises(ClientError, match="ThrottlingException"):
        client.get_item(TableName="t", Key={"pk": {"S": "a"}})
    assert len(attempts) == 3


def test_the_rate_decides_how_many_attempts_fail() -> None:
    # Given injectors failing none, all, and 30 % of the attempts
    never, always, some = FaultInjector(0.0), FaultInjector(1.0), FaultInjector(0.3, seed=7)
    # When each decides 2,000 attempts
    decisions = {
        name: [injector.decide("s3") for _ in range(2000)]
        for name, injector in (("never", never), ("always", always), ("some", some))
    }
    # Then none, all, and about 30 % fail
    assert not any(decisions["never"])
    assert all(decisions["always"])
    assert 0.27 < sum(d is not None for d in decisions["some"]) / 2000 < 0.33
    assert some.summary().startswith("faults: ")


def test_a_seed_repeats_its_sequence() -> None:
    # Given two injectors with one seed and one with another
    first, second, other = (FaultInjector(0.5, "both", seed) for seed in (1, 1, 2))
    # When each decides the same 200 attempts
    runs = [[i.decide("dynamodb") for _ in range(200)] for i in (first, second, other)]
    # Then the same seed gives the same faults, another seed others
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]


def test_a_write_applied_and_then_lost_is_answered_with_a_server_error_never_a_throttle() -> None:
    # Given an injector whose every fault comes after AWS applied the request
    injector = FaultInjector(1.0, "after", seed=3)
    # When it decides many DynamoDB and S3 attempts
    decided = [injector.decide(service) for service in ("dynamodb", "s3") * 200]
    # Then each is a 5xx applied first (a throttled request is never applied)
    assert {mode for _, mode in filter(None, decided)} == {"after"}
    assert all(fault.status >= 500 for fault, _ in filter(None, decided))


@pytest.mark.parametrize(("rate", "mode"), [(-0.1, "before"), (1.5, "before"), (0.3, "sideways")])
def test_a_rate_outside_0_to_1_or_an_unknown_mode_is_refused(rate: float, mode: Any) -> None:
    with pytest.raises(ValueError, match=r"fault (rate|mode)"):
        FaultInjector(rate, mode)
