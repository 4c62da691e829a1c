"""Development tooling, never deployed nor imported by the Lambda handlers. The modules, read as
a diagram of `imagepipe local` (the tests use the same parts, minus stack and s3_front):

    cli              the `imagepipe` command: local, invoke, upload, token, openapi, redrive, audit
    stack            the local stack's lifecycle: starts, wires and stops the parts below
      s3_front       the emulated AWS endpoint: moto's server behind S3's browser-POST checks
        post_policy  what S3 checks on a POST upload: policy, signature, conditions, checksum
      provision      template.yaml's buckets, tables and queues created in the emulator
      sources        event sources: S3 notifications and SQS pollers that invoke the functions
      http_api       HTTP requests as API Gateway v2 events for the handlers; the demo pages
        authorizer   --auth jwt: the template's JWT authorizer, checked before any function runs
        identity     --auth jwt: the stack as the token issuer (key pair, JWKS, token endpoint)
      persistence    --data-dir: tables and buckets kept between runs
      webhook        --webhook-url: lifecycle events POSTed to a URL (an API destination)
      sockets        the template's WebSocket API (live updates) and its @connections endpoint
      faults         --fault-rate: a fraction of the functions' AWS calls failed as AWS fails them
    invoke           one handler run as Lambda runs it (and the stack's log line per invocation)
    iam              each AWS call of a function checked against its template policy
      permissions    the AWS calls each adapter method and each function may make
    template         template.yaml read for names, resources, routes, sources, environments
    events           AWS-shaped events: API Gateway HTTP, S3 notification, SQS batch
    client           `imagepipe upload`: hash, presign, upload and wait, as a browser does;
                     `imagepipe token`: a token from the local issuer
    redrive          `imagepipe redrive`: dead-lettered jobs back to their queues
    audit            `imagepipe audit`: does the bucket agree with the tables?
"""

from __future__ import annotations

import logging

# The local stack's own log: one line per invocation, refused uploads, dead letters. Its name
# must not contain "imagepipe", the handlers' Powertools service: Powertools puts a filter on
# the root logger's handlers that drops every record whose logger name *contains* the service
# name (aws_lambda_powertools.logging.filters.SuppressFilter), and it silently swallowed these.
log = logging.getLogger("local-stack")
