"""API Gateway WebSocket adapter: messages to live-update sockets, through the API's
management endpoint (PostToConnection)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_apigatewaymanagementapi import ApiGatewayManagementApiClient


class ApiGatewaySockets:
    def __init__(self, client: Callable[[], ApiGatewayManagementApiClient]) -> None:
        self._client = client

    def post(self, connection_id: str, message: dict[str, Any]) -> bool:
        client = self._client()
        data = json.dumps(message, separators=(",", ":")).encode()
        try:
            client.post_to_connection(ConnectionId=connection_id, Data=data)
        except client.exceptions.GoneException:
            return False
        return True
