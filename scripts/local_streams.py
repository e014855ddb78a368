"""The table's stream, as Lambda's event source mapping reads it, for the emulator (moto).

moto records a stream for a table created with a ``StreamSpecification``, but nothing reads
it: no event source mapping delivers it to a function. ``StreamTail`` reads the new records
of one table's stream straight from moto's backend (it runs in moto's process: the local
run's AWS emulator, or a test's ``mock_aws``), in order, in batches, starting from the end
(``LATEST``), each record in the form Lambda hands to a stream handler.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.timestamp()
    raise TypeError(f"cannot put {type(value).__name__} in a stream record")


class StreamTail:
    """Takes the records of one table's stream as they come. Records handed out are
    dropped from moto's shard (its sequence numbers carry on), so a long local run keeps
    no stream history in memory or in its saved state. Callers that share moto with other
    threads hold the emulator's DynamoDB lock around ``read``."""

    def __init__(self, backend_dict: Any, table: str, *, account: str, region: str) -> None:
        self._backend_dict = backend_dict
        self._table = table
        self._account = account
        self._region = region
        self._started = False

    def _shard(self) -> Any:
        try:
            table = self._backend_dict[self._account][self._region].tables[self._table]
        except KeyError:
            return None
        return getattr(table, "stream_shard", None)

    def read(self, limit: int = 100) -> list[dict[str, Any]]:
        """Up to ``limit`` records written since the last read (none at the first: a tail
        starts at the end, as ``LATEST`` does)."""
        shard = self._shard()
        if shard is None:
            return []
        count = len(shard.items) if not self._started else min(limit, len(shard.items))
        batch = shard.items[:count]
        del shard.items[:count]
        shard.starting_sequence_number += count
        if not self._started:
            self._started = True
            return []
        return [json.loads(json.dumps(r.record, default=_jsonable)) for r in batch]
