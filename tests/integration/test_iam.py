"""IAM as AWS would apply it, which moto does not: each function's policy in template.yaml
grants exactly the calls declared for it (imagepipe_local/permissions.py), and a call the policy
or the declarations do not cover is refused while the function runs (imagepipe_local/iam.py)."""

from __future__ import annotations

import copy
import importlib
import io
import pkgutil
from collections.abc import Iterator
from functools import partial

import boto3
import pytest
from botocore.exceptions import ClientError

from imagepipe import adapters
from imagepipe.adapters.aws import s3_client
from imagepipe.adapters.s3 import S3Storage
from imagepipe_local.http_api import LocalHttpApi
from imagepipe_local.iam import Policy, Request, acting_as
from imagepipe_local.invoke import FunctionRunner
from imagepipe_local.permissions import ADAPTER_CALLS, FUNCTION_CALLS, required_actions
from imagepipe_local.template import Template
from tests.conftest import IAM
from tests.integration.helpers import bucket, presign

JPEG = b"\xff\xd8\xff\xe0" + b"imagepipe" * 10

CDN_SIGNED = {
    "CdnPublicKeyPem": "-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----",
    "CdnPrivateKeySecretArn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:cdn-AbCdEf",
}
PARAMETER_SETS = [
    {},
    {"LabelsProvider": "rekognition"},
    {"JwtIssuer": "https://id.example"},
    CDN_SIGNED,
]


@pytest.fixture
def refusals() -> Iterator[None]:
    """For tests that provoke violations on purpose: cleared before the autouse check."""
    yield
    IAM.violations.clear()


@pytest.mark.parametrize(
    "parameters", PARAMETER_SETS, ids=["defaults", "rekognition", "jwt", "cdn-signed"]
)
def test_each_policy_grants_exactly_the_actions_of_the_declared_calls(
    parameters: dict[str, str],
) -> None:
    # Given the template under one set of parameters, and calls declared for each function
    template = Template.load(parameters=parameters)
    conditions = {name: template.condition(name) for name in template.data["Conditions"]}
    assert set(FUNCTION_CALLS) == set(template.functions)
    for function in template.functions:
        # When the actions its policy grants are read
        granted = Policy.of(template, function).actions
        # Then they are exactly those its declared calls need under these parameters
        assert granted == required_actions(function, conditions), function


def test_every_declared_call_is_a_real_adapter_method_or_a_named_service_call() -> None:
    # Given the classes the adapter modules define (every module of the package)
    modules = [
        importlib.import_module(f"imagepipe.adapters.{info.name}")
        for info in pkgutil.iter_modules(adapters.__path__)
    ]
    classes = {
        cls.__name__: cls
        for module in modules
        for cls in vars(module).values()
        if isinstance(cls, type) and cls.__module__ == module.__name__
    }
    # When each declared call, other than Powertools' and Lambda's, is looked up on its class
    for call in ADAPTER_CALLS:
        owner, _, method = call.partition(".")
        if owner in ("powertools", "lambda"):
            continue
        # Then the class has that method
        assert callable(getattr(classes[owner], method, None)), call
    # And every function declares only calls from that list
    for calls in FUNCTION_CALLS.values():
        assert set(calls) <= set(ADAPTER_CALLS)


def test_the_policy_evaluation_follows_resources_and_conditions(template: Template) -> None:
    # Given the policies of Ingest and of the images API, and the bucket's ARN
    ingest, api = Policy.of(template, "IngestFunction"), Policy.of(template, "ImagesApiFunction")
    bucket_arn = f"arn:aws:s3:::{template.physical_name('ImagesBucket')}"
    # When requests are evaluated against them
    # Then Ingest may read objects under uploads/ only, and may not write there
    assert ingest.allows(Request("s3:GetObject", f"{bucket_arn}/uploads/abc"))
    assert not ingest.allows(Request("s3:GetObject", f"{bucket_arn}/images/abc"))
    assert not ingest.allows(Request("s3:PutObject", f"{bucket_arn}/uploads/abc"))
    # And the API may list the bucket under images/ only, and not with no prefix at all
    listing = partial(Request, "s3:ListBucket", bucket_arn)
    assert api.allows(listing((("s3:prefix", "images/2026/11/24/x/"),)))
    assert not api.allows(listing((("s3:prefix", "uploads/"),)))
    assert not api.allows(listing())


def test_a_call_the_policy_does_not_allow_is_refused_like_aws_would(
    aws: Template, refusals: None
) -> None:
    # Given the template with PresignUploadFunction's S3 statement taken out
    data = copy.deepcopy(dict(aws.data))
    statements = data["Resources"]["PresignUploadFunction"]["Properties"]["Policies"][0]
    statements["Statement"] = [
        s for s in statements["Statement"] if "s3:PutObject" not in s["Action"]
    ]
    api = LocalHttpApi(FunctionRunner(Template(data, aws.names)))
    # When a client asks for an upload
    response = presign(api, "iam-1", JPEG)
    # Then the presign is refused, as S3 would refuse the browser's POST signed without it
    assert response.status == 500
    assert any("does not allow s3:PutObject" in r for r in IAM.violations), IAM.violations


def test_an_adapter_call_outside_the_functions_declarations_is_refused(
    aws: Template, refusals: None
) -> None:
    # Given the bucket behind the S3 adapter
    storage = S3Storage(bucket(aws), partial(s3_client, "us-east-1"))
    # Metadata only reads: a write from it is neither declared nor allowed.
    # When Metadata's code puts an object through the adapter / Then S3 answers AccessDenied
    with acting_as("MetadataFunction", aws), pytest.raises(ClientError, match="AccessDenied"):
        storage.put("images/x/thumb.webp", b"x", content_type="image/webp", cache_control="")
    # And the put is recorded both as undeclared for Metadata and as not allowed by its policy
    assert any("S3Storage.put (s3:PutObject) is not declared" in r for r in IAM.violations)
    assert any("does not allow s3:PutObject" in r for r in IAM.violations)


def test_ingest_may_not_read_outside_the_staging_prefix(aws: Template, refusals: None) -> None:
    # Given the S3 adapter, and an object outside uploads/
    storage = S3Storage(bucket(aws), partial(s3_client, "us-east-1"))
    boto3.client("s3").put_object(Bucket=bucket(aws), Key="images/elsewhere", Body=b"x")
    # When Ingest's code reads it / Then S3 answers AccessDenied
    with acting_as("IngestFunction", aws), pytest.raises(ClientError, match="AccessDenied"):
        storage.download("images/elsewhere", io.BytesIO())
    # And the one violation names Ingest's policy, the action and the object's ARN
    (refusal,) = IAM.violations
    assert refusal.startswith("IngestFunction's policy in template.yaml does not allow")
    assert refusal.endswith(f"s3:GetObject on arn:aws:s3:::{bucket(aws)}/images/elsewhere")


def test_an_aws_call_from_outside_the_adapters_is_refused(aws: Template, refusals: None) -> None:
    # Given an object in staging, which Ingest's policy lets it read
    boto3.client("s3").put_object(Bucket=bucket(aws), Key="uploads/abc", Body=b"x")
    # When Ingest's code gets it with a bare boto3 client, not an adapter / Then it is denied
    with acting_as("IngestFunction", aws), pytest.raises(ClientError, match="AccessDenied"):
        boto3.client("s3").get_object(Bucket=bucket(aws), Key="uploads/abc")
    # And the only violation is the call made outside an adapter
    assert IAM.violations == ["s3:GetObject is called outside an adapter"]
