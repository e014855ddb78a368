"""The ``ConnectionPoster`` port on API Gateway's ``@connections`` management API.

In AWS the endpoint is the WebSocket API's stage URL (``https://<api>.execute-api.<region>
.amazonaws.com/<stage>``); in the local run it is the local server, which answers the same
``POST /@connections/<id>`` requests for the connections it holds. A connection that has
gone answers 410 (``GoneException``).

Each connection gets its messages one after the other, in order; different connections are
served in parallel, so one update reaches a thousand followers in the time of a few dozen
round trips.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

if TYPE_CHECKING:
    from mypy_boto3_apigatewaymanagementapi import ApiGatewayManagementApiClient

logger = logging.getLogger(__name__)
PARALLEL_POSTS = 32


class ApiGatewayConnections:
    def __init__(
        self,
        make_client: Callable[[], ApiGatewayManagementApiClient],
        *,
        parallel: int = PARALLEL_POSTS,
    ) -> None:
        self._make_client = make_client
        self._client: ApiGatewayManagementApiClient | None = None
        self._parallel = parallel
        self._pool: ThreadPoolExecutor | None = None

    def _ready(self) -> tuple[Any, ThreadPoolExecutor]:
        if self._client is None:
            self._client = self._make_client()
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self._parallel, thread_name_prefix="ws-post")
        return self._client, self._pool

    def post_many(self, messages: Mapping[str, Sequence[bytes]]) -> frozenset[str]:
        if not messages:
            return frozenset()
        client, pool = self._ready()

        def send(connection_id: str) -> str | None:
            for data in messages[connection_id]:
                try:
                    client.post_to_connection(ConnectionId=connection_id, Data=data)
                except ClientError as exc:
                    code = exc.response.get("Error", {}).get("Code")
                    if code == "GoneException":
                        return connection_id
                    logger.warning(
                        "could not post to a connection",
                        extra={"connection_id": connection_id, "code": code},
                    )
                    return None
                except BotoCoreError as exc:
                    logger.warning(
                        "could not reach the connections endpoint",
                        extra={"connection_id": connection_id, "error": str(exc)},
                    )
                    return None
            return None

        if len(messages) == 1:
            gone = [send(next(iter(messages)))]
        else:
            gone = list(pool.map(send, list(messages)))
        return frozenset(g for g in gone if g is not None)
