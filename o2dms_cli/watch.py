"""A rollout, shown and followed live: progress bar and time remaining, the stages with
their durations, the health checks and the components, updated as the service reports.

Updates come over the WebSocket (``/ws/deployments``); when it is not there (an older
server, a proxy that refuses the upgrade) or it drops, the rollout is read over HTTP
instead, less often the longer nothing changes. Watching ends with the rollout: 0 when it
completed, 1 when it failed or was rolled back.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import click

from o2dms_cli.client import Api
from o2dms_cli.errors import INTERRUPTED, OK, ROLLOUT_FAILED, CliError, for_status
from o2dms_cli.output import console, escape, seconds, styled, table, when

ENDED = {"completed": OK, "failed": ROLLOUT_FAILED, "rolled_back": ROLLOUT_FAILED}
# Messages after which nothing more comes about a rollout that has ended: its ending, or a
# reading of it (the snapshot, a poll).
LAST_WORDS = {"completed", "failed", "rolled_back", "snapshot", "status"}
POLL_FIRST, POLL_MOST = 0.5, 5.0
QUIET_SECONDS = 15.0  # no message for this long: read the rollout once over HTTP
V1 = "/api/v1/deployments"


def rollout_view(d: dict[str, Any]) -> list[Any]:
    """One rollout as renderables: header, progress, stages, health checks, components."""
    from rich.console import Group
    from rich.progress_bar import ProgressBar
    from rich.table import Table

    progress = d.get("progress") or {}
    percentage = float(progress.get("percentage") or 0)
    head = Table.grid(padding=(0, 1))
    head.add_row(
        f"[bold]{escape(d['name'])}[/] {escape(d['version'])}",
        f"{escape(d.get('platform', ''))}/{escape(d.get('environment', ''))}",
        styled(d["status"]),
    )
    bar = Table.grid(padding=(0, 1))
    remaining = progress.get("estimated_seconds_remaining")
    eta = f"ETA {seconds(remaining)}" if remaining is not None and d["status"] not in ENDED else ""
    bar.add_row(
        ProgressBar(total=100, completed=percentage, width=30),
        f"{percentage:5.1f}%",
        f"step {progress.get('current_step', '?')}/{progress.get('total_steps', '?')}",
        eta,
    )
    parts: list[Any] = [head, bar]
    if progress.get("current_stage"):
        parts.append(f"[dim]{escape(str(progress['current_stage']))}[/]")
    stages = d.get("stages") or []
    if stages:
        parts.append(
            table(
                None,
                ["stage", "status", "started", "took"],
                [(s["name"], s["status"], when(s.get("started_at")), _took(s)) for s in stages],
            )
        )
    checks = d.get("health_checks") or []
    if checks:
        parts.append(
            table(
                None,
                ["check", "type", "status", "message"],
                [
                    (
                        f"{c['component']}/{c['name']}" if c.get("component") else c["name"],
                        c["type"],
                        c["status"],
                        c.get("message", ""),
                    )
                    for c in checks
                ],
            )
        )
    components = d.get("components") or []
    if components:
        parts.append(
            table(
                None,
                ["component", "version", "ready", "status"],
                [
                    (
                        c["name"],
                        c.get("version") or "",
                        f"{c.get('ready', 0)}/{c.get('desired', 0)}",
                        c.get("status", ""),
                    )
                    for c in components
                ],
            )
        )
    if d.get("reason") and d["status"] in {"failed", "rolled_back", "rolling_back"}:
        parts.append(f"[yellow]reason:[/] {escape(str(d['reason']))}")
    parts.append(f"[dim]id {d['id']}  nfDeployment {d.get('nf_deployment_id', '')}[/]")
    return [Group(*parts)]


def _took(stage: dict[str, Any]) -> str:
    from datetime import UTC, datetime

    start = stage.get("started_at")
    if not start:
        return ""
    began = datetime.fromisoformat(str(start).replace("Z", "+00:00"))
    end = stage.get("finished_at")
    ended = datetime.fromisoformat(str(end).replace("Z", "+00:00")) if end else datetime.now(UTC)
    return seconds((ended - began).total_seconds())


def updates(api: Api, rollout_id: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """(type, rollout) as they happen, from the WebSocket or, failing that, by polling."""
    socket = _connect(api, rollout_id)
    if socket is not None:
        try:
            with socket:
                yield from _listen(api, socket, rollout_id)
                return
        except _Dropped:
            pass
    yield from _poll(api, rollout_id)


class _Dropped(Exception):
    pass


def _connect(api: Api, rollout_id: str) -> Any:
    from websockets.exceptions import InvalidHandshake, InvalidStatus
    from websockets.sync.client import connect

    url = f"{api.target.ws_url}?deployment_id={rollout_id}"
    try:
        return connect(url, additional_headers=api.target.headers, open_timeout=5)
    except InvalidStatus as exc:
        status = exc.response.status_code
        if status in (401, 403):
            raise CliError(_refusal(exc), for_status(status)) from exc
        return None  # no live endpoint there: read over HTTP
    except (OSError, TimeoutError, InvalidHandshake):
        return None


def _refusal(exc: Any) -> str:
    try:
        body = json.loads(exc.response.body)
        return f"{body['message']} [{body['error']}]"
    except (ValueError, KeyError, TypeError):
        return f"the live endpoint refused the connection ({exc.response.status_code})"


def _listen(api: Api, socket: Any, rollout_id: str) -> Iterator[tuple[str, dict[str, Any]]]:
    from websockets.exceptions import ConnectionClosed

    while True:
        try:
            message = json.loads(socket.recv(timeout=QUIET_SECONDS))
        except TimeoutError:
            yield "status", api.call("GET", f"{V1}/{rollout_id}")
            continue
        except ConnectionClosed as exc:
            raise _Dropped from exc
        kind, data = message.get("type"), message.get("data") or {}
        if kind == "error":
            raise CliError(data.get("message", "error"), for_status(int(data.get("code", 500))))
        if kind == "snapshot" or data.get("id") == rollout_id:
            yield kind, data


def _poll(api: Api, rollout_id: str) -> Iterator[tuple[str, dict[str, Any]]]:
    pause, last = POLL_FIRST, None
    while True:
        found = api.call("GET", f"{V1}/{rollout_id}")
        if found != last:
            yield ("snapshot" if last is None else "status"), found
            last, pause = found, POLL_FIRST
        else:
            pause = min(pause * 2, POLL_MOST)
        time.sleep(pause)


def follow(
    api: Api,
    rollout_id: str,
    *,
    fmt: str,
    verdict: bool = True,
    again: str | None = None,
    rollback: bool = False,
) -> int:
    """Watch ``rollout_id`` to its end; the exit code its outcome calls for. ``verdict``:
    end with a line saying how it went; ``again``: the command that follows it again, for
    the message of an interrupted watch; ``rollback``: the rollout is a rollback someone
    asked for, so ending ``rolled_back`` is its success."""
    live_view = fmt == "table"
    try:
        if live_view:
            return _live(api, rollout_id, verdict=verdict, rollback=rollback)
        for kind, data in updates(api, rollout_id):
            click.echo(json.dumps({"type": kind, "data": data}))
            if _over(kind, data, rollout_id):
                return _exit_code(data["status"], rollback=rollback)
    except KeyboardInterrupt:
        hint = again or f"apm deploy status {rollout_id} --watch"
        click.echo(f"Stopped watching; the rollout goes on. To follow it again: {hint}", err=True)
        return INTERRUPTED
    return OK


def _exit_code(status: str, *, rollback: bool) -> int:
    if rollback and status == "rolled_back":
        return OK
    return ENDED.get(status, OK)


def _over(kind: str, data: dict[str, Any], rollout_id: str) -> bool:
    return data.get("id") == rollout_id and data.get("status") in ENDED and kind in LAST_WORDS


def _live(api: Api, rollout_id: str, *, verdict: bool, rollback: bool) -> int:
    from rich.live import Live

    out = console()
    last: dict[str, Any] | None = None
    with Live(console=out, refresh_per_second=8, transient=False) as live:
        for kind, data in updates(api, rollout_id):
            if kind in {"stage", "failed", "rollback_started", "rolled_back", "completed"}:
                stamp = time.strftime("%H:%M:%S")
                live.console.print(
                    f"[dim]{stamp}[/] {kind.replace('_', ' ')}: {styled(data['status'])}"
                )
            last = data
            live.update(rollout_view(data)[0])
            if _over(kind, data, rollout_id):
                break
    if not out.is_terminal:
        out.line()  # a live view drawn to a file or a pipe ends without a newline
    if last is None:
        return OK
    code = _exit_code(last["status"], rollback=rollback)
    if code != OK and verdict:
        why = last.get("reason") or last.get("message") or ""
        out.print(f"[red]Rollout {last['status'].replace('_', ' ')}[/]: {escape(str(why))}")
    return code
