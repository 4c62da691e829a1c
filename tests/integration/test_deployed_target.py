"""The end-to-end suite's deployed mode reads its target from the stack's outputs, as
`sam deploy` leaves them (CloudFormation on moto here)."""

from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws

from imagepipe_local.template import Template
from tests.e2e.conftest import deployed_stack


def test_a_deployed_stack_is_found_by_its_outputs(
    template: Template, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a stack with the outputs template.yaml declares
    names = ("ApiUrl", "ImagesBucketName")
    assert set(names) <= set(template.data["Outputs"])
    values = {
        "ApiUrl": "https://abc123.execute-api.eu-west-1.amazonaws.com/",
        "ImagesBucketName": "b-1",
    }
    body = {
        "Resources": {"Anything": {"Type": "AWS::SQS::Queue"}},
        "Outputs": {name: {"Value": values[name]} for name in names},
    }
    with mock_aws():
        boto3.client("cloudformation").create_stack(
            StackName="imagepipe-dev", TemplateBody=json.dumps(body)
        )
        # When the suite is pointed at it, with a token for a JWT-protected API
        monkeypatch.setenv("IMAGEPIPE_TOKEN", "eyJ.token")
        stack = deployed_stack("imagepipe-dev")
    # Then it talks to that API and that bucket, with no local endpoint
    assert (stack.api, stack.bucket, stack.aws) == (
        "https://abc123.execute-api.eu-west-1.amazonaws.com",
        "b-1",
        "",
    )
    assert stack.http.headers["Authorization"] == "Bearer eyJ.token"
