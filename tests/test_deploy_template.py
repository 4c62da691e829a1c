"""What a deploy to AWS relies on, asserted on template.yaml (and on SAM's own transform of it):
the optional JWT authorizer, CORS, encryption, tracing, outputs and the justified IaC skips."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
from samtranslator.translator.transform import transform

from imagepipe_local.template import Template, load_template

ROOT = Path(__file__).resolve().parents[1]
METHODS = {"get", "post", "put", "delete", "patch", "head", "options"}
ISSUER = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Example"


class _NoManagedPolicies:
    """SAM looks managed policy names up in IAM; the template names none, so none is needed."""

    def load(self) -> dict[str, str]:
        return {}


def sam_transform(parameters: dict[str, str]) -> Template:
    """template.yaml through SAM's transform, as CloudFormation runs it, with these values."""
    packaged = load_template()
    # As `sam package` leaves it: code and layers uploaded to S3.
    packaged["Globals"]["Function"]["CodeUri"] = "s3://artifacts/functions.zip"
    for resource in packaged["Resources"].values():
        if resource["Type"] == "AWS::Serverless::LayerVersion":
            resource["Properties"]["ContentUri"] = "s3://artifacts/layer.zip"
    transformed = transform(packaged, dict(parameters), _NoManagedPolicies())
    return Template(transformed, parameters=parameters)


def http_api(template: Template) -> str:
    """The HTTP API (the other ApiGatewayV2 API is the live-updates WebSocket)."""
    (api,) = [
        api
        for api in template.of_type("AWS::ApiGatewayV2::Api")
        if template.properties(api).get("ProtocolType") != "WEBSOCKET"
    ]
    return api


def api_operations(template: Template) -> dict[tuple[str, str], dict[str, Any]]:
    api = http_api(template)
    body = template.properties(api)["Body"]
    return {
        (method.upper(), path): operation
        for path, item in body["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    }


def test_every_route_is_in_the_api_body_that_carries_the_authorizer(template: Template) -> None:
    # The routes come from the functions' events; the body lists them for the authorizer. SAM
    # must merge both into one set of routes, each with its function's integration.
    # Given the template as SAM transforms it with the parameters' defaults
    deployed = sam_transform({})
    # When the operations of the API's body are collected
    operations = api_operations(deployed)
    # Then they are the template's routes, each a proxy integration with its function
    assert set(operations) == {(r.method, r.path) for r in template.http_routes()}
    for operation in operations.values():
        assert operation["x-amazon-apigateway-integration"]["type"] == "aws_proxy"


def test_without_an_issuer_no_route_has_an_authorizer() -> None:
    # Given a deploy that leaves JwtIssuer empty, so UseJwt is off
    deployed = sam_transform({})
    assert not deployed.condition("UseJwt")
    # When the API's operations are resolved / Then none asks for a token
    for operation in api_operations(deployed).values():
        assert "security" not in deployed.resolve(operation)
    # And the API's body defines no security scheme at all
    api = http_api(deployed)
    components = deployed.resolve(deployed.properties(api)["Body"].get("components", {}))
    assert not components.get("securitySchemes")


def test_with_an_issuer_every_route_requires_a_valid_jwt() -> None:
    # Given a deploy with a Cognito issuer and two audiences, so UseJwt is on
    deployed = sam_transform({"JwtIssuer": ISSUER, "JwtAudience": "app-client-1,app-client-2"})
    assert deployed.condition("UseJwt")
    # When the API's operations are resolved / Then every one requires the JWT authorizer
    for key, operation in api_operations(deployed).items():
        assert deployed.resolve(operation)["security"] == [{"JwtAuthorizer": []}], key
    # And that authorizer checks the Authorization header against the issuer and both audiences
    api = http_api(deployed)
    schemes = deployed.resolve(deployed.properties(api)["Body"]["components"]["securitySchemes"])
    authorizer = schemes["JwtAuthorizer"]["x-amazon-apigateway-authorizer"]
    assert authorizer == {
        "type": "jwt",
        "identitySource": "$request.header.Authorization",
        "jwtConfiguration": {"issuer": ISSUER, "audience": ["app-client-1", "app-client-2"]},
    }


def test_jwt_parameters_are_optional_but_an_issuer_needs_an_audience(template: Template) -> None:
    # Given the template's parameters / When the JWT ones are read / Then both default to empty
    params = template.data["Parameters"]
    assert params["JwtIssuer"]["Default"] == ""
    assert params["JwtAudience"]["Default"] == ""
    # And a rule that applies exactly when UseJwt holds, that is when an issuer is given,
    rule = template.data["Rules"]["JwtAudienceWithIssuer"]
    assert rule["RuleCondition"] == template.data["Conditions"]["UseJwt"]
    # has one assertion: JwtAudience names at least one audience that is not empty
    (assertion,) = rule["Assertions"]
    assert assertion["Assert"] == {
        "Fn::Not": [{"Fn::EachMemberIn": [{"Ref": "JwtAudience"}, [""]]}]
    }


def test_cors_origins_come_from_the_parameter(template: Template) -> None:
    # Given the template / When the CORS settings of the API and of the bucket are read
    # Then both allow the origins the AllowedOrigins parameter gives
    api_cors = template.properties("HttpApi")["CorsConfiguration"]
    assert api_cors["AllowOrigins"] == {"Ref": "AllowedOrigins"}
    (rule,) = template.properties("ImagesBucket")["CorsConfiguration"]["CorsRules"]
    assert rule["AllowedOrigins"] == {"Ref": "AllowedOrigins"}
    # And the bucket lets a browser POST or PUT an upload and read the ETag of the response
    assert {"POST", "PUT"} <= set(rule["AllowedMethods"])
    assert "ETag" in rule["ExposedHeaders"]
    # When the template is loaded with two origins in the parameter
    allowed = Template.load(parameters={"AllowedOrigins": "https://a.example,https://b.example"})
    resolved = allowed.resolve(allowed.properties("ImagesBucket")["CorsConfiguration"])
    # Then the bucket's CORS rule allows exactly those two
    assert resolved["CorsRules"][0]["AllowedOrigins"] == ["https://a.example", "https://b.example"]


def test_every_queue_has_a_dead_letter_queue(template: Template) -> None:
    # Given the template's queues
    queues = set(template.of_type("AWS::SQS::Queue"))
    # When the queues named by their redrive policies and by the functions' failure
    # destinations are collected
    redriven = {
        q: template.properties(q)["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
        for q in queues
        if "RedrivePolicy" in template.properties(q)
    }
    destinations = {
        template.properties(f)["EventInvokeConfig"]["DestinationConfig"]["OnFailure"][
            "Destination"
        ]["Fn::GetAtt"][0]
        for f in template.functions
        if "EventInvokeConfig" in template.properties(f)
    }
    dead_letter = set(redriven.values()) | destinations
    # Then every queue either redrives to a dead-letter queue or is one, never both,
    # and every dead-letter queue keeps its messages for 14 days
    assert queues == set(redriven) | dead_letter
    assert not set(redriven) & dead_letter
    for queue in dead_letter:
        assert template.properties(queue)["MessageRetentionPeriod"] == 14 * 24 * 3600


def test_data_at_rest_is_encrypted_and_tables_are_on_demand(template: Template) -> None:
    # Given the template's queues, tables and bucket / When their settings are read
    # Then every queue is encrypted with SQS's own keys
    for queue in template.of_type("AWS::SQS::Queue"):
        assert template.properties(queue)["SqsManagedSseEnabled"] is True, queue
    # And every table is billed per request and encrypted
    for table in template.of_type("AWS::DynamoDB::Table"):
        props = template.properties(table)
        assert props["BillingMode"] == "PAY_PER_REQUEST", table
        assert props["SSESpecification"] == {"SSEEnabled": True}, table
    # And the images and session tables can be restored to a point in time
    for table in ("ImagesTable", "SessionImagesTable"):
        pitr = template.properties(table)["PointInTimeRecoverySpecification"]
        assert pitr == {"PointInTimeRecoveryEnabled": True}
    # And the bucket encrypts by default, with S3's or KMS's keys
    encryption = template.properties("ImagesBucket")["BucketEncryption"]
    (rule,) = encryption["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in ("AES256", "aws:kms")
    # And it owns every object written to it, so ACLs play no part
    ownership = template.properties("ImagesBucket")["OwnershipControls"]["Rules"]
    assert ownership == [{"ObjectOwnership": "BucketOwnerEnforced"}]


def test_functions_are_traced_and_powertools_is_configured_once(template: Template) -> None:
    # Given the settings all functions share / When they are read
    function_globals = template.data["Globals"]["Function"]
    # Then functions run on Python 3.13 with active tracing, and Powertools is configured there
    assert function_globals["Tracing"] == "Active"
    assert function_globals["Runtime"] == "python3.13"
    env = function_globals["Environment"]["Variables"]
    assert {"POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE", "POWERTOOLS_LOG_LEVEL"} <= (
        set(env)
    )
    # And no function sets tracing or a Powertools variable of its own
    for function in template.functions:
        own = template.properties(function).get("Environment", {}).get("Variables", {})
        assert not any(key.startswith("POWERTOOLS_") for key in own), function
        assert "Tracing" not in template.properties(function), function


def test_the_api_writes_an_access_log_with_the_retention_parameter(template: Template) -> None:
    # Given the API's access log settings / When the log group they write to is looked up
    settings = template.properties("HttpApi")["AccessLogSettings"]
    group = settings["DestinationArn"]["Fn::GetAtt"][0]
    # Then the group is kept as long as LogRetentionDays says, and each line has the request id
    assert template.properties(group)["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    assert "$context.requestId" in settings["Format"]


def test_outputs_name_the_api_bucket_tables_and_queues(template: Template) -> None:
    # Given the template's outputs / When the resources they refer to are collected
    outputs = {name: out["Value"] for name, out in template.data["Outputs"].items()}
    referenced = {value["Ref"] for value in outputs.values() if "Ref" in value}
    # Then they name every table but the idempotency table, the bucket, the two work queues
    # and Ingest's dead-letter queue, and ApiUrl is built from the API's id
    assert set(template.of_type("AWS::DynamoDB::Table")) - {"IdempotencyTable"} <= referenced
    assert {"ImagesBucket", "VariantsQueue", "MetadataQueue", "IngestDeadLetterQueue"} <= (
        referenced
    )
    assert "${HttpApi}" in outputs["ApiUrl"]["Fn::Sub"]


def test_every_iac_check_skip_is_justified_next_to_its_resource(template: Template) -> None:
    # Given the checkov skips in the resources' metadata
    # When each is read / Then it names a checkov check and says why in ten words or more
    skipped = 0
    for name, resource in template.resources.items():
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", []):
            assert re.fullmatch(r"CKV2?_[A-Z]+_\d+", skip["id"]), name
            assert len(skip.get("comment", "").split()) >= 10, f"{name} {skip['id']}: say why"
            skipped += 1
    # And there are some, so the loop above checked something
    assert skipped > 0


def test_no_policy_grants_every_action_or_every_resource_beyond_what_an_api_requires() -> None:
    # Given the template with its defaults and with Rekognition for labels
    # With every condition on, so that conditional statements are checked too.
    for template in (Template.load(), Template.load(parameters={"LabelsProvider": "rekognition"})):
        # When each statement of each function's resolved policies is read
        for function in template.functions:
            for policy in template.resolve(template.properties(function)["Policies"]):
                for statement in policy["Statement"]:
                    actions = statement["Action"]
                    resources = statement["Resource"]
                    actions = actions if isinstance(actions, list) else [actions]
                    resources = resources if isinstance(resources, list) else [resources]
                    # Then no action has a wildcard, and only DetectLabels may cover every resource
                    assert all("*" not in action for action in actions), (function, actions)
                    if "*" in resources:
                        # Rekognition's DetectLabels has no resource-level permissions.
                        assert actions == ["rekognition:DetectLabels"], (function, statement)


@pytest.mark.parametrize("environment", ["default", "prod"])
def test_samconfig_builds_cached_and_in_parallel(environment: str) -> None:
    # Given samconfig.toml / When an environment's build parameters are read
    config = tomllib.loads((ROOT / "samconfig.toml").read_text(encoding="utf-8"))
    build = config[environment]["build"]["parameters"]
    # Then its builds are cached and run in parallel
    assert build["cached"] is True
    assert build["parallel"] is True
    # And its deploys pass the stage of that environment: dev by default, prod for prod
    deploy = config[environment]["deploy"]["parameters"]
    assert (
        f'Stage="{"dev" if environment == "default" else "prod"}"'
        in (deploy["parameter_overrides"])
    )


def test_the_images_bus_takes_events_from_exactly_the_functions_that_publish_them(
    template: Template,
) -> None:
    # Given the template's functions and the images bus
    bus = template.arn("ImagesEventBus")

    # When each function's policy is read for events:PutEvents
    publishers = {
        function
        for function in template.functions
        for statement in template.resolve(template.properties(function).get("Policies", []))
        for s in statement["Statement"]
        if "events:PutEvents" in s["Action"]
    }

    # Then the functions that change an image's status may publish, and only on that bus
    assert publishers == {
        "IngestFunction",
        "VariantsFunction",
        "MetadataFunction",
        "SweeperFunction",
        "ImagesApiFunction",
    }
    for function in publishers:
        for statement in template.resolve(template.properties(function)["Policies"]):
            for s in statement["Statement"]:
                if "events:PutEvents" in s["Action"]:
                    assert s["Resource"] == bus, function


def test_without_a_webhook_url_there_is_no_api_destination() -> None:
    # Given a deploy that leaves WebhookUrl empty / When SAM's transform runs
    deployed = sam_transform({})

    # Then no connection, destination, rule or role of the webhook is created (the rules left
    # are the sweeper's schedule and the live-updates notifier's subscription)
    assert not deployed.condition("UseWebhook")
    for kind in ("AWS::Events::Connection", "AWS::Events::ApiDestination", "AWS::IAM::Role"):
        assert [r for r in deployed.of_type(kind) if r.startswith("Webhook")] == [], kind
    assert sorted(deployed.of_type("AWS::Events::Rule")) == [
        "EventsNotifierFunctionLifecycle",
        "SweeperFunctionSweep",
    ]


def test_a_webhook_url_adds_a_rule_posting_every_event_to_it_with_its_key_from_a_secret() -> None:
    # Given a deploy with a webhook and the ARN of the secret holding its key
    secret = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:hook-key-AbCdEf"
    deployed = sam_transform(
        {"WebhookUrl": "https://hooks.example.com/imagepipe", "WebhookApiKeySecretArn": secret}
    )

    # When its webhook resources are resolved
    rule = "WebhookRule"
    assert rule in deployed.of_type("AWS::Events::Rule")
    rule_props = deployed.properties(rule)
    (destination,) = deployed.of_type("AWS::Events::ApiDestination")
    (connection,) = deployed.of_type("AWS::Events::Connection")
    auth = deployed.resolve(deployed.properties(connection))["AuthParameters"]

    # Then a rule on the images bus sends every imagepipe event to the API destination, with
    # retries and a dead-letter queue, and the key is read from the secret at deploy time
    assert deployed.resolve(rule_props["EventBusName"]) == deployed.physical_name("ImagesEventBus")
    assert rule_props["EventPattern"] == {"source": ["imagepipe"]}
    (target,) = rule_props["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": [destination, "Arn"]}
    assert target["RoleArn"] == {"Fn::GetAtt": ["WebhookRole", "Arn"]}
    assert "DeadLetterConfig" in target
    assert "RetryPolicy" in target
    dest_props = deployed.properties(destination)
    assert deployed.resolve(dest_props["InvocationEndpoint"]).startswith("https://hooks.")
    assert dest_props["HttpMethod"] == "POST"
    assert auth["ApiKeyAuthParameters"]["ApiKeyValue"] == (
        f"{{{{resolve:secretsmanager:{secret}:SecretString}}}}"
    )


def test_the_websocket_api_routes_connect_and_disconnect_to_the_socket_function_only() -> None:
    # Given the template as SAM transforms it
    deployed = sam_transform({})
    (api,) = [
        a
        for a in deployed.of_type("AWS::ApiGatewayV2::Api")
        if deployed.properties(a).get("ProtocolType") == "WEBSOCKET"
    ]
    # When its routes, their integrations and the functions' invoke permissions are read
    routes = {
        deployed.properties(r)["RouteKey"]: deployed.properties(r)
        for r in deployed.of_type("AWS::ApiGatewayV2::Route")
        if deployed.properties(r)["ApiId"] == {"Ref": api}
    }
    # Then exactly $connect and $disconnect exist (nothing from the browser is routed), both
    # to one Lambda proxy integration of EventsSocketFunction
    assert sorted(routes) == ["$connect", "$disconnect"]
    assert deployed.websocket_routes() == {
        "$connect": "EventsSocketFunction",
        "$disconnect": "EventsSocketFunction",
    }
    (integration,) = deployed.of_type("AWS::ApiGatewayV2::Integration")
    assert deployed.properties(integration)["IntegrationType"] == "AWS_PROXY"
    # And API Gateway may invoke the socket function from this API only
    (permission,) = [
        p
        for p in deployed.of_type("AWS::Lambda::Permission")
        if deployed.properties(p)["FunctionName"] == {"Ref": "EventsSocketFunction"}
    ]
    props = deployed.properties(permission)
    assert props["Principal"] == "apigateway.amazonaws.com"
    assert "${EventsApi}/*" in props["SourceArn"]["Fn::Sub"]
    # And the stage deploys itself after the routes and writes an access log
    (stage,) = [
        s
        for s in deployed.of_type("AWS::ApiGatewayV2::Stage")
        if deployed.properties(s).get("ApiId") == {"Ref": api}
    ]
    assert deployed.properties(stage)["AutoDeploy"] is True
    assert set(deployed.resource(stage)["DependsOn"]) == {
        "EventsConnectRoute",
        "EventsDisconnectRoute",
    }
    assert "AccessLogSettings" in deployed.properties(stage)


def test_the_notifier_hears_the_bus_and_may_post_only_to_its_own_apis_sockets(
    template: Template,
) -> None:
    # Given the notifier's event source and policy
    (source,) = template.bus_rule_sources()
    statements = [
        s
        for policy in template.resolve(template.properties("EventsNotifierFunction")["Policies"])
        for s in policy["Statement"]
    ]
    # When they are read
    manage = [s for s in statements if "execute-api:ManageConnections" in s["Action"]]
    # Then it gets every event of the images bus, retried a little (a live update is worth
    # little late)
    assert (source.function, source.bus, source.pattern) == (
        "EventsNotifierFunction",
        "ImagesEventBus",
        {"source": ["imagepipe"]},
    )
    assert source.max_retries == 2
    # And it may post to the sockets of the events API's stage only, nothing else of it
    api_id, stage = template.websocket_api() or ("", "")
    (statement,) = manage
    assert statement["Resource"] == (
        f"arn:aws:execute-api:{template.names.region}:{template.names.account_id}:"
        f"{api_id}/{stage}/POST/@connections/*"
    )


def test_the_ticket_key_is_generated_and_readable_by_the_signer_and_the_verifier_only(
    template: Template,
) -> None:
    # Given the ticket key secret / When the policies granting secretsmanager actions are read
    secret = template.properties("EventsTicketKey")
    readers = {
        function: s["Resource"]
        for function in template.functions
        for policy in template.resolve(template.properties(function).get("Policies", []))
        for s in policy["Statement"]
        if any(a.startswith("secretsmanager:") for a in s["Action"])
    }
    # Then it is generated at deploy (no value in the template), long, and only the images API
    # (which signs tickets) and the socket function (which verifies them) may read it, that
    # secret only
    assert "SecretString" not in secret
    assert secret["GenerateSecretString"]["PasswordLength"] >= 64
    assert readers == {
        "ImagesApiFunction": template.arn("EventsTicketKey"),
        "EventsSocketFunction": template.arn("EventsTicketKey"),
    }
