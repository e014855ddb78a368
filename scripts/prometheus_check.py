"""A real Prometheus scraping the local run: the metrics are well formed, every dashboard
query finds data, and the counters equal what was done.

It starts the local run (as ``make run`` does) on free ports and a Prometheus (Debian's
package: the binaries on PATH, else ``apt-get download`` and unpacked under
``.local/prometheus``) scraping its ``/metrics`` every second with a viewer's token. Then it
plays a scenario through the API (seed 000's nginx-prod: create, upgrade, a crashing upgrade
rolled back by itself, scale up and down, a requested rollback; seed 002: a version, then a
crashing one; 20 deployments scaled at the same moment), and checks:

- ``promtool check metrics`` finds nothing to say about ``/metrics``;
- every query of ``dashboards/grafana.json`` returns at least one series through
  Prometheus's HTTP API;
- the counters, read through Prometheus, equal the operations the scenario ended.

Exit status 0 when all holds; the failures are printed otherwise. ``make prometheus-check``.
"""

from __future__ import annotations

import functools
import json
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scripts import dashboard_queries  # noqa: E402
from scripts.local_launch import admin_token, free_ports, launch, stop  # noqa: E402

DASHBOARD = ROOT / "dashboards" / "grafana.json"
# The local run serves the 20 concurrent scales on a machine that may be running the rest
# of the test suite beside it: a slow answer is waited for, a lost operation still fails.
REQUEST_SECONDS = 120
CONCURRENT_SETTLE_SECONDS = 240
UNPACKED = ROOT / ".local" / "prometheus"
O2 = "/o2dms/v1"
V1 = "/api/v1/deployments"
CONCURRENT = 20
ENDED_APP = {"completed", "failed", "rolled_back"}
TRANSIENT = {"DEPLOYING", "ROLLING_BACK", "DELETING"}
DESCRIPTOR = {
    "descriptorId": "nginx-chart-1.2.0",
    "name": "nginx",
    "artifactRepoUrl": "https://charts.bitnami.com/bitnami",
    "artifactName": "nginx",
    "artifactVersion": "1.2.0",
    "defaultParameters": {"replicaCount": 2, "image": {"repository": "nginx", "tag": "1.20.0"}},
}


# ------------------------------------------------------------------------ binaries


def binaries() -> tuple[Path, Path]:
    """``prometheus`` and ``promtool``: installed, or Debian's package unpacked here."""
    found = shutil.which("prometheus"), shutil.which("promtool")
    if found[0] and found[1]:
        return Path(found[0]), Path(found[1])
    unpacked = UNPACKED / "usr" / "bin"
    if not (unpacked / "prometheus").exists():
        with tempfile.TemporaryDirectory() as folder:
            subprocess.run(
                ["apt-get", "download", "prometheus"],
                cwd=folder,
                check=True,
                capture_output=True,
                timeout=300,
            )
            (package,) = Path(folder).glob("prometheus_*.deb")
            UNPACKED.mkdir(parents=True, exist_ok=True)
            subprocess.run(["dpkg-deb", "-x", str(package), str(UNPACKED)], check=True)
    return unpacked / "prometheus", unpacked / "promtool"


# ----------------------------------------------------------------------------- API


class Api:
    def __init__(self, root: str, token: str) -> None:
        self.root, self.token = root, token

    def __call__(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.root + path,
            data=data,
            method=method,
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=REQUEST_SECONDS) as answer:
                text = answer.read()
                status = answer.status
        except urllib.error.HTTPError as exc:
            status, text = exc.code, exc.read()
        try:
            return status, json.loads(text) if text.strip() else None
        except ValueError:
            return status, text.decode()

    def ok(self, method: str, path: str, body: Any = None) -> Any:
        status, answer = self(method, path, body)
        for _ in range(5):  # a read that met a busy emulator (503) is asked again
            if method != "GET" or status != 503:
                break
            time.sleep(1)
            status, answer = self(method, path, body)
        if status >= 300:
            raise SystemExit(f"{method} {path}: {status} {answer}")
        return answer

    def settled(self, deployment: str, timeout: float = 60) -> Any:
        return _until(
            lambda: self.ok("GET", f"{O2}/nfDeployments/{deployment}/status"),
            lambda s: s["status"] not in TRANSIENT,
            timeout,
            f"{deployment} to settle",
        )

    def ended(self, rollout_id: str, timeout: float = 60) -> Any:
        return _until(
            lambda: self.ok("GET", f"{V1}/{rollout_id}"),
            lambda d: d["status"] in ENDED_APP,
            timeout,
            f"rollout {rollout_id} to end",
        )


def _until(read: Callable[[], Any], done: Callable[[Any], bool], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = read()
        if done(found):
            return found
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}: {found}")
        time.sleep(0.2)


def scenario(api: Api) -> None:
    """Seed 000's and seed 002's flows, then 20 scales at once (left running)."""
    nf = f"{O2}/nfDeployments/nginx-prod"
    api.ok("POST", f"{O2}/nfDeploymentDescriptors", DESCRIPTOR)
    api.ok(
        "POST",
        f"{O2}/nfDeployments",
        {"name": "nginx-prod", "descriptorId": "nginx-chart-1.2.0", "namespace": "production"},
    )
    api.settled("nginx-prod")
    api.ok("PUT", nf, {"parameters": {"image": {"tag": "1.21.0"}}})
    api.settled("nginx-prod")
    api.ok("PUT", nf, {"parameters": {"image": {"tag": "crash"}}})
    api.settled("nginx-prod")
    for replicas in (5, 2):
        api.ok("POST", f"{nf}/scale", {"replicas": replicas})
        api.settled("nginx-prod")
    api.ok("POST", f"{nf}/rollback", {"revision": 0, "reason": "scenario"})
    api.settled("nginx-prod")
    for version in ("v1.0.0", "v2.0.0-crash"):
        body = {
            "name": "my-app",
            "version": version,
            "platform": "kubernetes",
            "environment": "production",
            "configuration": {"image": "registry.example.com/my-app"},
        }
        api.ended(api.ok("POST", V1, body)["id"])
    names = [f"cu-{n:02d}" for n in range(CONCURRENT)]
    for name in names:
        api.ok(
            "POST",
            f"{O2}/nfDeployments",
            {"name": name, "descriptorId": "nginx-chart-1.2.0", "namespace": "ran"},
        )
    for name in names:
        api.settled(name)
    threads = [
        threading.Thread(
            target=api.ok, args=("POST", f"{O2}/nfDeployments/{n}/scale", {"replicas": 3})
        )
        for n in names
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def settle_all(api: Api) -> None:
    for n in range(CONCURRENT):
        api.settled(f"cu-{n:02d}", timeout=CONCURRENT_SETTLE_SECONDS)


# Seed 000's counters after the scenario: 21 scales up (nginx-prod's and the 20 at once),
# one down, one upgrade completed and one rolled back, two rollbacks (requested and
# automatic) on helm, one automatic on kubernetes (the crashing seed-002 version).
APP = 'platform="kubernetes",environment="production"'
EXPECTED = {
    'o2dms_scale_operations_total{adapter="helm",direction="up",status="COMPLETED"}': 21,
    'o2dms_scale_operations_total{adapter="helm",direction="down",status="COMPLETED"}': 1,
    'o2dms_upgrade_operations_total{adapter="helm",status="COMPLETED"}': 1,
    'o2dms_upgrade_operations_total{adapter="helm",status="ROLLED_BACK"}': 1,
    'o2dms_rollback_operations_total{adapter="helm",status="COMPLETED"}': 2,
    'o2dms_rollback_operations_total{adapter="kubernetes",status="COMPLETED"}': 1,
    # nginx-prod's 6 operations, and the 20 others' installs and scales
    'sum(o2dms_operation_duration_seconds_count{adapter="helm"})': 46,
    'deployment_total{platform="kubernetes",environment="production",version="v1.0.0"}': 1,
    f'deployment_rollback_total{{{APP},version="v2.0.0-crash"}}': 1,
    f'deployment_status{{{APP},version="v2.0.0-crash",status="rolled_back"}}': 1,
}


# ------------------------------------------------------------------------ prometheus


def prometheus_config(folder: Path, target: str, token: str) -> Path:
    config = folder / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        "scrape_configs:\n"
        "  - job_name: o2dms\n"
        "    metrics_path: /metrics\n"
        "    authorization:\n"
        f"      credentials: {token}\n"
        "    static_configs:\n"
        f"      - targets: ['{target}']\n"
    )
    return config


def query(port: int, expr: str) -> list[Any]:
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(url, timeout=10) as answer:
        found = json.loads(answer.read())
    if found.get("status") != "success":
        raise SystemExit(f"query {expr!r} failed: {found}")
    result: list[Any] = found["data"]["result"]
    return result


def panel_queries() -> list[tuple[str, str]]:
    """Every panel's queries, with Grafana's interval variables made concrete."""
    return [
        (title, re.sub(r"\$__(rate_)?interval|\$__range", "5m", expr))
        for title, expr in dashboard_queries.panel_queries(DASHBOARD)
    ]


def _has_series(port: int, expr: str) -> bool:
    return bool(query(port, expr))


def _eventually(check: Callable[[], bool], seconds: float = 15) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.5)
    return False


def main() -> int:
    prometheus, promtool = binaries()
    problems: list[str] = []
    with tempfile.TemporaryDirectory(prefix="prometheus-check-") as folder:
        place = Path(folder)
        launcher, _, (api_port, _, _) = launch(
            place, {"O2DMS_LOCAL_ROLLOUT_SECONDS": "1", "O2DMS_ROLLOUT_POLL_SECONDS": "0.2"}
        )
        server = None
        try:
            api = Api(f"http://127.0.0.1:{api_port}", admin_token(place))
            scraper = admin_token(place, "o2dms-viewer")
            (prom_port,) = free_ports(1)
            config = prometheus_config(place, f"127.0.0.1:{api_port}", scraper)
            server = subprocess.Popen(
                [
                    str(prometheus),
                    f"--config.file={config}",
                    f"--storage.tsdb.path={place / 'tsdb'}",
                    f"--web.listen-address=127.0.0.1:{prom_port}",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            scenario(api)
            # While the 20 scales run: the panels of what is going on now have data.
            busy = [q for q in panel_queries() if "Active" in q[0]]
            for title, expr in busy:
                if not _eventually(functools.partial(_has_series, prom_port, expr)):
                    problems.append(f"panel {title!r}: no series while rollouts ran: {expr}")
            settle_all(api)
            exposition = urllib.request.urlopen(
                urllib.request.Request(
                    f"http://127.0.0.1:{api_port}/metrics",
                    headers={"Authorization": f"Bearer {scraper}"},
                ),
                timeout=10,
            ).read()
            linted = subprocess.run(
                [str(promtool), "check", "metrics"],
                input=exposition,
                capture_output=True,
                check=False,
            )
            said = (linted.stdout + linted.stderr).decode().strip()
            if linted.returncode != 0 or said:
                problems.append(f"promtool check metrics: {said or linted.returncode}")
            time.sleep(6)  # a few scrapes after the scenario, so rates have two points
            for title, expr in panel_queries():
                if "Active" in title:
                    continue  # checked while rollouts ran
                if not query(prom_port, expr):
                    problems.append(f"panel {title!r}: no series for {expr}")
            for expr, wanted in EXPECTED.items():
                found = query(prom_port, expr)
                got = float(found[0]["value"][1]) if found else 0.0
                if got != wanted:
                    problems.append(f"{expr} = {got}, expected {wanted}")
        finally:
            if server is not None:
                server.terminate()
                server.wait(timeout=20)
            stop(launcher)
    for problem in problems:
        print(f"FAIL {problem}")
    if not problems:
        print(f"ok: promtool clean, {len(panel_queries())} panel queries with data, counters exact")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
