"""`imagepipe local --webhook-url URL`: what the template's webhook (an EventBridge API
destination behind a rule on the images bus) does on AWS. A rule on the emulated bus sends
every lifecycle event to an internal queue; a thread POSTs each one to the URL as JSON and
deletes it once the webhook answered 2xx (else it is tried again after the visibility timeout,
as EventBridge retries)."""

from __future__ import annotations

import threading

import boto3
import requests

from imagepipe_local import log
from imagepipe_local.provision import rule_to_queue
from imagepipe_local.template import Template

WEBHOOK_QUEUE = "imagepipe-local-webhook"
_RULE = "imagepipe-local-webhook"


class WebhookForwarder:
    def __init__(self, template: Template, url: str, *, endpoint_url: str) -> None:
        self.url = url
        region = template.names.region
        self._sqs = boto3.client("sqs", region_name=region, endpoint_url=endpoint_url)
        self._events = boto3.client("events", region_name=region, endpoint_url=endpoint_url)
        self._bus = template.physical_name("ImagesEventBus")
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._queue = ""

    def start(self) -> None:
        # The template's WebhookRule matches the same pattern.
        self._queue = rule_to_queue(
            self._events,
            self._sqs,
            bus=self._bus,
            rule=_RULE,
            pattern={"source": ["imagepipe"]},
            queue=WEBHOOK_QUEUE,
            visibility_timeout=5,
        )
        self._thread = threading.Thread(target=self._forward, name="webhook", daemon=True)
        self._thread.start()
        log.info("lifecycle events POSTed to %s", self.url)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _forward(self) -> None:
        while not self._stop.is_set():
            try:
                messages = self._sqs.receive_message(
                    QueueUrl=self._queue, MaxNumberOfMessages=10, WaitTimeSeconds=1
                ).get("Messages", [])
            except Exception:
                log.exception("reading the webhook's events")
                self._stop.wait(1)
                continue
            for message in messages:
                if self._post(message["Body"]):
                    self._sqs.delete_message(
                        QueueUrl=self._queue, ReceiptHandle=message["ReceiptHandle"]
                    )

    def _post(self, body: str) -> bool:
        try:
            response = requests.post(
                self.url,
                data=body.encode(),
                headers={"content-type": "application/json"},
                timeout=10,
            )
        except requests.RequestException as error:
            log.warning("webhook %s unreachable: %s", self.url, error)
            return False
        if not response.ok:
            log.warning("webhook %s answered %s", self.url, response.status_code)
        return response.ok
