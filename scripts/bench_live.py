"""Live-progress benchmark: one stored change, fanned out to 1,000 WebSocket connections.

It starts the local run (``scripts/run_local.py``, as ``make run`` does) on free ports with
its own state folder, starts a deployment, opens ``--connections`` real WebSocket clients on
``/ws/deployments?deployment_id=...`` (they wait for their snapshots), then, ``--runs``
times, stores one change of the deployment's operation straight into the table and times
each client's receipt of it. It prints the time from the stored change to the first, the
median and the last delivery (median and spread over the runs), and the AWS calls the
stream handler made per update (its own log line: the Queries, and one post per
connection). Run it with ``make bench-live``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scripts.local_launch import admin_token, launch, stop  # noqa: E402

TABLE = "o2dms-dev"
SENT = re.compile(
    r"live updates sent: (\d+) messages to (\d+) connections after (\d+) queries; \d+ gone"
    r" \((\d+) ms reading, (\d+) ms sending\)"
)


def call(url: str, token: str, body: Any = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url,
        data=data,
        method="POST" if body is not None else "GET",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read())


async def clients(url: str, token: str, count: int) -> list[Any]:
    from websockets.asyncio.client import connect

    limit = asyncio.Semaphore(32)
    headers = {"Authorization": f"Bearer {token}"}

    async def one() -> Any:
        async with limit:
            ws = await connect(url, additional_headers=headers, open_timeout=60, max_queue=None)
            first = json.loads(await asyncio.wait_for(ws.recv(), 60))
            assert first["type"] == "snapshot", first
            return ws

    return list(await asyncio.gather(*(one() for _ in range(count))))


async def one_change(sockets: list[Any], change: Any) -> list[float]:
    """Store the change; each socket's delay from then to the message it makes."""

    async def heard(ws: Any) -> float:
        await ws.recv()
        return time.perf_counter()

    waiting = [asyncio.ensure_future(heard(ws)) for ws in sockets]
    await asyncio.sleep(0.2)
    stored = await asyncio.to_thread(change)
    arrived = await asyncio.gather(*waiting)
    return sorted(a - stored for a in arrived)


def deployed(root: str, token: str) -> dict[str, Any]:
    """A seed-002 deployment, rolled out."""
    body = {
        "name": "bench",
        "version": "v1.0.0",
        "platform": "kubernetes",
        "environment": "production",
        "configuration": {"image": "registry.example.com/bench"},
    }
    started: dict[str, Any] = call(f"{root}/api/v1/deployments", token, body)
    while call(f"{root}/api/v1/deployments/{started['id']}", token)["status"] not in {
        "completed",
        "failed",
    }:
        time.sleep(0.3)
    return started


def changer(aws_port: int, started: dict[str, Any]) -> Any:
    """One stored change of the deployment's operation (its progress), timed when stored."""
    import boto3

    dynamodb = boto3.client(
        "dynamodb",
        endpoint_url=f"http://127.0.0.1:{aws_port}",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    key = {
        "PK": {"S": f"DEP#{started['nf_deployment_id']}"},
        "SK": {"S": f"OP#{started['operation_id']}"},
    }

    def change() -> float:
        dynamodb.update_item(
            TableName=TABLE,
            Key=key,
            UpdateExpression="SET progress = progress - :one",
            ExpressionAttributeValues={":one": {"N": "1"}},
        )
        return time.perf_counter()

    return change


def report(runs: list[list[float]], sent: list[tuple[int, ...]], connections: int) -> None:
    def figure(pick: Any) -> str:
        values = [pick(r) * 1000 for r in runs]
        return f"{statistics.median(values):8.0f} ms  ({min(values):.0f}-{max(values):.0f})"

    print(f"one stored change to {connections} connections, {len(runs)} runs:")
    print(f"  first delivery   {figure(lambda r: r[0])}")
    print(f"  median delivery  {figure(lambda r: r[len(r) // 2])}")
    print(f"  last delivery    {figure(lambda r: r[-1])}")
    updates = [s for s in sent if s[1] == connections][-len(runs) :]
    if updates:
        messages, reached, queries, _, _ = updates[-1]
        print(
            f"AWS calls per update: {queries} Query + {messages} PostToConnection "
            f"({reached} connections)"
        )
        reading = statistics.median(u[3] for u in updates)
        sending = statistics.median(u[4] for u in updates)
        print(
            f"in the stream handler: {reading:.0f} ms reading followers, {sending:.0f} ms posting"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-live-") as folder:
        launcher, log_path, (api_port, aws_port, _) = launch(
            Path(folder), {"O2DMS_LOCAL_ROLLOUT_SECONDS": "1"}
        )
        try:
            root = f"http://127.0.0.1:{api_port}"
            token = admin_token(Path(folder))
            started = deployed(root, token)
            change = changer(aws_port, started)
            url = f"ws://127.0.0.1:{api_port}/ws/deployments?deployment_id={started['id']}"

            async def run() -> list[list[float]]:
                opened = time.perf_counter()
                sockets = await clients(url, token, args.connections)
                print(
                    f"{len(sockets)} connections open and sent their snapshots "
                    f"in {time.perf_counter() - opened:.1f} s"
                )
                runs = [await one_change(sockets, change) for _ in range(args.runs)]
                await asyncio.gather(*(ws.close() for ws in sockets))
                return runs

            runs = asyncio.run(run())
        finally:
            stop(launcher)
        sent = [tuple(map(int, m.groups())) for m in SENT.finditer(log_path.read_text())]
    report(runs, sent, args.connections)


if __name__ == "__main__":
    main()
