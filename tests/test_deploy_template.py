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


# --- Delivery through CloudFront ---------------------------------------------------------------

CDN_KEY_SECRET = "arn:aws:secretsmanager:us-east-1:123456789012:secret:imagepipe-cdn-key-AbCdEf"
# Only passed through to CloudFront: any PEM-shaped text will do here.
CDN_PUBLIC_KEY = "\n".join(
    [
        "-----BEGIN PUBLIC KEY-----",
        "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA",
        "-----END PUBLIC KEY-----",
        "",
    ]
)
SIGNED = {"CdnPublicKeyPem": CDN_PUBLIC_KEY, "CdnPrivateKeySecretArn": CDN_KEY_SECRET}
CUSTOM_DOMAIN = {
    "CdnDomainName": "images.example.com",
    "CdnCertificateArn": "arn:aws:acm:us-east-1:123456789012:certificate/0a1b2c3d",
}


def distribution_config(deployed: Template) -> dict[str, Any]:
    (distribution,) = deployed.of_type("AWS::CloudFront::Distribution")
    assert distribution == "ImagesDistribution"
    config = dict(deployed.properties(distribution)["DistributionConfig"])
    # The origin's bucket endpoint has no local name; test_the_distribution_reads_the_bucket_...
    # reads it unresolved.
    config.pop("Origins")
    resolved: dict[str, Any] = deployed.resolve(config)
    return resolved


def statements_of_role(deployed: Template, role: str) -> list[dict[str, Any]]:
    policies = deployed.resolve(deployed.properties(role).get("Policies", []))
    return [s for policy in policies for s in policy["PolicyDocument"]["Statement"]]


def test_the_distribution_reads_the_bucket_through_an_origin_access_control_that_signs() -> None:
    # Given the template as SAM transforms it
    deployed = sam_transform({})
    # When the distribution's one origin and its origin access control are read
    (origin,) = deployed.properties("ImagesDistribution")["DistributionConfig"]["Origins"]
    (control,) = deployed.of_type("AWS::CloudFront::OriginAccessControl")
    config = deployed.properties(control)["OriginAccessControlConfig"]
    # Then the origin is the images bucket's regional endpoint, reached through that control
    # (no legacy origin access identity)
    assert origin["DomainName"] == {"Fn::GetAtt": ["ImagesBucket", "RegionalDomainName"]}
    assert origin["OriginAccessControlId"] == {"Fn::GetAtt": [control, "Id"]}
    assert origin["S3OriginConfig"] == {"OriginAccessIdentity": ""}
    # And the control signs every request to S3 with SigV4
    assert (
        config["OriginAccessControlOriginType"],
        config["SigningBehavior"],
        config["SigningProtocol"],
    ) == ("s3", "always", "sigv4")
    # And the one behaviour reads from that origin (the bucket policy limits it to images/)
    distribution = deployed.properties("ImagesDistribution")["DistributionConfig"]
    assert "CacheBehaviors" not in distribution
    assert distribution["DefaultCacheBehavior"]["TargetOriginId"] == origin["Id"]


def test_the_bucket_lets_only_this_distribution_read_and_only_under_images(
    template: Template,
) -> None:
    # Given the bucket policy's statements that allow something
    (policy,) = template.of_type("AWS::S3::BucketPolicy")
    statements = template.properties(policy)["PolicyDocument"]["Statement"]
    allows = [s for s in statements if s["Effect"] == "Allow"]
    # When the one that allows is read
    (statement,) = allows
    # Then it lets CloudFront's service principal get objects under images/ and nothing else
    assert statement["Principal"] == {"Service": "cloudfront.amazonaws.com"}
    assert statement["Action"] == "s3:GetObject"
    assert template.resolve(statement["Resource"]) == f"{template.arn('ImagesBucket')}/images/*"
    # And only on behalf of this stack's distribution, its ARN built from its id (CloudFront
    # has no Arn attribute)
    (condition,) = statement["Condition"]["StringEquals"].items()
    assert condition[0] == "AWS:SourceArn"
    assert condition[1] == {
        "Fn::Sub": "arn:${AWS::Partition}:cloudfront::${AWS::AccountId}:distribution/"
        "${ImagesDistribution}"
    }
    # And the bucket still blocks every public access and refuses plain HTTP
    assert [s["Sid"] for s in statements if s["Effect"] == "Deny"] == ["DenyInsecureTransport"]


def test_viewers_get_https_only_over_http2_or_http3_and_ipv6() -> None:
    # Given the distribution with its defaults (no domain of ours)
    config = distribution_config(sam_transform({}))
    behavior = config["DefaultCacheBehavior"]
    # When its protocols are read / Then plain HTTP is never served, HTTP/2 and HTTP/3 and IPv6
    # are on, and only reads are allowed
    assert behavior["ViewerProtocolPolicy"] in ("https-only", "redirect-to-https")
    assert config["HttpVersion"] == "http2and3"
    assert config["IPV6Enabled"] is True
    assert config["Enabled"] is True
    assert behavior["AllowedMethods"] == ["GET", "HEAD"]
    assert config["PriceClass"] == "PriceClass_100"
    # And it answers on its *.cloudfront.net name with CloudFront's certificate
    assert "Aliases" not in config
    assert config["ViewerCertificate"] == {"CloudFrontDefaultCertificate": True}


def test_a_domain_of_ours_gets_its_certificate_and_tls_1_2_at_least() -> None:
    # Given a deploy with a domain and its ACM certificate
    deployed = sam_transform(CUSTOM_DOMAIN)
    assert deployed.condition("UseCdnDomain")
    # When the distribution's names and certificate are read
    config = distribution_config(deployed)
    # Then it answers on that domain with that certificate (SNI), TLS 1.2 or later
    assert config["Aliases"] == ["images.example.com"]
    assert config["ViewerCertificate"] == {
        "AcmCertificateArn": CUSTOM_DOMAIN["CdnCertificateArn"],
        "SslSupportMethod": "sni-only",
        "MinimumProtocolVersion": "TLSv1.2_2021",
    }
    # And the API and the stack's output hand out URLs on that domain
    env = deployed.resolve(deployed.properties("ImagesApiFunction")["Environment"]["Variables"])
    assert env["CDN_BASE_URL"] == "https://images.example.com"
    assert deployed.resolve(deployed.data["Outputs"]["ImagesCdnUrl"]["Value"]) == (
        "https://images.example.com"
    )


def test_the_cache_key_is_the_path_alone_and_objects_stay_a_year(template: Template) -> None:
    # Given the cache policy of the distribution's behaviour
    behavior = template.properties("ImagesDistribution")["DistributionConfig"][
        "DefaultCacheBehavior"
    ]
    policy = template.properties(behavior["CachePolicyId"]["Ref"])["CachePolicyConfig"]
    key = policy["ParametersInCacheKeyAndForwardedToOrigin"]
    # When its TTLs and cache key are read
    # Then an object without Cache-Control from S3 is kept a year, at most a year
    assert policy["DefaultTTL"] == policy["MaxTTL"] == 365 * 24 * 3600
    # And no cookie, header or query string is in the key (nor sent to S3), so a signed URL's
    # Expires, Signature and Key-Pair-Id never split one object into several cache entries
    assert key["CookiesConfig"] == {"CookieBehavior": "none"}
    assert key["HeadersConfig"] == {"HeaderBehavior": "none"}
    assert key["QueryStringsConfig"] == {"QueryStringBehavior": "none"}


def test_responses_are_immutable_in_caches_and_never_sniffed(template: Template) -> None:
    # Given the response headers policy of the distribution's behaviour
    behavior = template.properties("ImagesDistribution")["DistributionConfig"][
        "DefaultCacheBehavior"
    ]
    name = behavior["ResponseHeadersPolicyId"]["Ref"]
    config = template.properties(name)["ResponseHeadersPolicyConfig"]
    # When the headers it sets are read
    custom = {item["Header"]: item for item in config["CustomHeadersConfig"]["Items"]}
    security = config["SecurityHeadersConfig"]
    # Then every response says cache a year and never revalidate, whatever S3 sent
    assert custom["Cache-Control"]["Value"] == "public, max-age=31536000, immutable"
    assert custom["Cache-Control"]["Override"] is True
    # And browsers must not sniff another content type than S3's
    assert security["ContentTypeOptions"] == {"Override": True}
    # And any origin may read an image (as the local CDN lets it), never with credentials
    cors = config["CorsConfig"]
    assert cors["AccessControlAllowOrigins"]["Items"] == ["*"]
    assert cors["AccessControlAllowMethods"]["Items"] == ["GET", "HEAD"]
    assert cors["AccessControlAllowCredentials"] is False


def test_without_a_public_key_the_distribution_trusts_no_key_group_and_nothing_is_signed() -> None:
    # Given a deploy that leaves CdnPublicKeyPem empty
    deployed = sam_transform({})
    assert not deployed.condition("UseSignedUrls")
    # When the CloudFront keys, the behaviour and the API's settings are read
    behavior = distribution_config(deployed)["DefaultCacheBehavior"]
    env = deployed.resolve(deployed.properties("ImagesApiFunction")["Environment"]["Variables"])
    # Then there is no public key or key group, and the distribution serves unsigned URLs
    assert deployed.of_type("AWS::CloudFront::PublicKey") == []
    assert deployed.of_type("AWS::CloudFront::KeyGroup") == []
    assert "TrustedKeyGroups" not in behavior
    # And the API builds plain URLs on the distribution's own name
    assert env["CDN_BASE_URL"] == (
        f"https://{deployed.resolve({'Fn::GetAtt': ['ImagesDistribution', 'DomainName']})}"
    )
    assert not env["CDN_BASE_URL"].endswith("/")
    assert env["CDN_KEY_PAIR_ID"] == ""
    assert env["CDN_PRIVATE_KEY_SECRET"] == ""
    # And no role may read a CDN key
    for role in deployed.of_type("AWS::IAM::Role"):
        for statement in statements_of_role(deployed, role):
            assert statement.get("Sid") != "SignCdnUrls", role


def test_a_public_key_makes_the_distribution_trust_it_and_the_api_sign_with_its_secret() -> None:
    # Given a deploy with a public key and the secret holding its private key
    deployed = sam_transform(SIGNED)
    assert deployed.condition("UseSignedUrls")
    # When the CloudFront keys, the behaviour and the API's settings are read
    (public_key,) = deployed.of_type("AWS::CloudFront::PublicKey")
    (key_group,) = deployed.of_type("AWS::CloudFront::KeyGroup")
    behavior = distribution_config(deployed)["DefaultCacheBehavior"]
    env = deployed.properties("ImagesApiFunction")["Environment"]["Variables"]
    # Then the key group holds that public key and is the only one the distribution trusts
    assert deployed.resolve(deployed.properties(public_key)["PublicKeyConfig"]["EncodedKey"]) == (
        CDN_PUBLIC_KEY
    )
    assert deployed.properties(key_group)["KeyGroupConfig"]["Items"] == [{"Ref": public_key}]
    assert behavior["TrustedKeyGroups"] == [deployed.resolve({"Ref": key_group})]
    # And the API signs with that key's id (Ref of a public key is its id) and the secret
    assert deployed.resolve(env["CDN_KEY_PAIR_ID"]) == deployed.resolve({"Ref": public_key})
    assert deployed.resolve(env["CDN_PRIVATE_KEY_SECRET"]) == CDN_KEY_SECRET
    # And the API's role, and no other, may read that secret, and only that one
    readers = {
        role: statement
        for role in deployed.of_type("AWS::IAM::Role")
        for statement in statements_of_role(deployed, role)
        if statement.get("Sid") == "SignCdnUrls"
    }
    assert list(readers) == ["ImagesApiFunctionRole"]
    assert readers["ImagesApiFunctionRole"]["Action"] == ["secretsmanager:GetSecretValue"]
    assert readers["ImagesApiFunctionRole"]["Resource"] == CDN_KEY_SECRET
    for role in deployed.of_type("AWS::IAM::Role"):
        for statement in statements_of_role(deployed, role):
            if statement.get("Sid") != "SignCdnUrls":
                resources = statement["Resource"]
                assert CDN_KEY_SECRET not in (
                    resources if isinstance(resources, list) else [resources]
                ), role


def test_a_public_key_without_its_private_key_secret_is_refused(template: Template) -> None:
    # Given the template's rules and conditions
    rule = template.data["Rules"]["CdnPrivateKeyWithPublicKey"]
    # When the rule about the CDN's key is read
    # Then it applies exactly when URLs are signed, and asserts the secret's ARN is given
    assert rule["RuleCondition"] == template.data["Conditions"]["UseSignedUrls"]
    (assertion,) = rule["Assertions"]
    assert assertion["Assert"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "CdnPrivateKeySecretArn"}, ""]}]
    }
    # And every CDN parameter is optional
    params = template.data["Parameters"]
    for name in ("CdnPublicKeyPem", "CdnPrivateKeySecretArn", "CdnDomainName", "CdnCertificateArn"):
        assert params[name]["Default"] == "", name


def test_the_cdn_url_is_an_output() -> None:
    # Given the template as SAM transforms it with its defaults
    deployed = sam_transform({})
    # When the ImagesCdnUrl output is resolved / Then it is the API's CDN_BASE_URL
    env = deployed.resolve(deployed.properties("ImagesApiFunction")["Environment"]["Variables"])
    output = deployed.resolve(deployed.data["Outputs"]["ImagesCdnUrl"]["Value"])
    assert output == env["CDN_BASE_URL"]
    assert output.startswith("https://")
    assert output.endswith(".cloudfront.net")
