"""``HelmBackend`` end to end through a real subprocess: a fake helm (a Python script written
here) keeps releases like helm does, answers in helm's formats, and records every argv,
stdin and the kubeconfig it was handed."""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from chalicelib.adapters.helm.backend import HelmBackend
from chalicelib.adapters.helm.commands import HelmSettings
from chalicelib.adapters.helm.runner import HelmRunner
from chalicelib.domain.errors import ReleaseConflict, ReleaseNotFound
from chalicelib.domain.models import ChartRef, JsonObject
from chalicelib.domain.ports import RolloutPhase
from tests.helm_fakes import HELM4, PASSWORD, REF, SECRETS, TOKEN, StaticCredentials, target

FAKE_HELM = r'''#!{python}
"""A stand-in for helm: state in state.json, every call appended to calls.jsonl."""
import json, os, stat, sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
STATE, LOG = HERE / "state.json", HERE / "calls.jsonl"
VALUED = {{"--namespace", "--kubeconfig", "--kube-context", "--values", "--timeout",
          "--history-max", "--output", "--max", "--revision", "--repo", "--version"}}
APP = {{"0.1.0": "1.16.0", "0.2.0": "1.17.0"}}
args = sys.argv[1:]
command = args[:2] if args[0] == "get" else args[:1]
flags, words, i = {{}}, [], len(command)
while i < len(args):
    if args[i] in VALUED:
        flags[args[i]] = args[i + 1]
        i += 2
    else:
        (flags.__setitem__(args[i], True) if args[i].startswith("--") else words.append(args[i]))
        i += 1
stdin = sys.stdin.read() if flags.get("--values") == "-" else None
record = {{"argv": sys.argv[1:], "stdin": stdin, "env_kubeconfig": "KUBECONFIG" in os.environ}}
if "--kubeconfig" in flags:
    path = Path(flags["--kubeconfig"])
    record["kubeconfig"] = str(path)
    record["mode"] = stat.S_IMODE(path.stat().st_mode)
    record["server"] = json.loads(path.read_text())["clusters"][0]["cluster"]["server"]
with LOG.open("a") as log:
    log.write(json.dumps(record) + "\n")
state = json.loads(STATE.read_text()) if STATE.exists() else {{}}
key = flags.get("--namespace", "default") + "/" + words[0]
revs = state.get(key, [])

def fail(message):
    sys.stderr.write("Error: " + message + "\n")
    sys.exit(1)

def save():
    state[key] = revs
    STATE.write_text(json.dumps(state))

def release(rev, resources=None):
    name, version = rev["chart"].rsplit("-", 1)
    info = {{"status": rev["status"], "description": rev["description"], "notes": "fake notes",
            "last_deployed": "2026-11-22T01:49:30Z"}}
    doc = {{"name": words[0], "namespace": flags["--namespace"], "version": rev["revision"],
           "info": info, "config": rev["values"]}}
    if resources is None:
        doc["chart"] = {{"metadata": {{"name": name, "version": version,
                                      "appVersion": rev["app_version"]}}}}
    else:
        info["resources"] = resources
    return json.dumps(doc)

def push(chart, values, description, rollback_to=None):
    for rev in revs:
        if rev["status"] == "deployed":
            rev["status"] = "superseded"
    version = chart.rsplit("-", 1)[1]
    rev = {{"revision": revs[-1]["revision"] + 1 if revs else 1, "status": "deployed",
           "chart": chart, "app_version": APP[version], "values": values,
           "description": description}}
    if rollback_to:
        rev["rollback_revision"] = rollback_to
    revs.append(rev)
    keep = int(flags.get("--history-max", "0"))
    if keep:
        del revs[:-keep]
    save()
    return rev

def chart_of(word):
    return Path(word).name.removesuffix(".tgz")

if command == ["install"]:
    if revs:
        fail("INSTALLATION FAILED: release name check failed: "
             "cannot reuse a name that is still in use")
    print(release(push(chart_of(words[1]), json.loads(stdin), "Install complete")))
elif command == ["upgrade"]:
    if not revs:
        fail('UPGRADE FAILED: "' + words[0] + '" has no deployed releases')
    print(release(push(chart_of(words[1]), json.loads(stdin), "Upgrade complete")))
elif command == ["rollback"]:
    old = next((r for r in revs if r["revision"] == int(words[1])), None)
    if old is None:
        fail("release has no " + words[1] + " version")
    push(old["chart"], old["values"], "Rollback to " + words[1], int(words[1]))
    print("Rollback was a success! Happy Helming!")
elif command == ["history"]:
    if not revs:
        fail("release: not found")
    rows = [{{k: v for k, v in r.items() if k != "values"}} for r in revs]
    print(json.dumps(rows[-int(flags.get("--max", "256")):]))
elif command == ["get", "values"]:
    old = next((r for r in revs if r["revision"] == int(flags["--revision"])), None)
    if old is None:
        fail("release: not found")
    print(json.dumps(old["values"]))
elif command == ["status"]:
    if not revs:
        fail("release: not found")
    n = revs[-1]["values"].get("replicaCount", 1)
    deployment = {{"kind": "Deployment", "metadata": {{"name": words[0], "generation": 3}},
                  "spec": {{"replicas": n}},
                  "status": {{"observedGeneration": 3, "replicas": n, "updatedReplicas": n,
                             "readyReplicas": n, "availableReplicas": n}}}}
    print(release(revs[-1], {{"v1/Deployment": [deployment]}}))
elif command == ["uninstall"]:
    if not revs:
        fail("uninstall: Release not loaded: " + words[0] + ": release: not found")
    revs = []
    save()
    print('release "' + words[0] + '" uninstalled')
else:
    fail("fake helm does not know " + " ".join(command))
'''


def _chart(version: str) -> ChartRef:
    return ChartRef(f"file://{HELM4}", "demo", version)


@pytest.fixture
def fake_helm(tmp_path: Path) -> Path:
    script = tmp_path / "helm"
    script.write_text(FAKE_HELM.format(python=sys.executable))
    script.chmod(0o755)
    return script


def _calls(fake_helm: Path) -> list[dict[str, Any]]:
    lines = (fake_helm.parent / "calls.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def test_fake_helm_drives_backend_through_a_whole_life(
    fake_helm: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a backend on the fake helm, Helm keeping 3 revisions, local charts allowed
    caplog.set_level(logging.DEBUG)
    env = {"PATH": os.environ.get("PATH", ""), "KUBECONFIG": "/elsewhere/config"}
    runner = HelmRunner(fake_helm, env=env, state_dir=tmp_path / "state")
    settings = HelmSettings(max_history=3, allow_local_charts=True, timeout_seconds=60)
    backend = HelmBackend(StaticCredentials(), settings=settings, runner=runner)
    first: JsonObject = {"replicaCount": 2, "auth": {"password": PASSWORD}}
    one = target(chart=_chart("0.1.0"), values=first, revision=1)

    # When it installs, upgrades, rolls back (kept), scales, rolls back (pruned), uninstalls
    installed = backend.install(one)
    upgraded = backend.upgrade(target(chart=_chart("0.2.0"), values={"replicaCount": 3}))
    kept = backend.rollback(one, to_backend_ref=installed.backend_ref)
    scaled = backend.scale(one, replicas=4)
    pruned = backend.rollback(one, to_backend_ref=installed.backend_ref)
    ready = backend.status(REF)
    history = backend.history(REF)
    backend.uninstall(REF)
    gone = backend.status(REF)
    with pytest.raises(ReleaseNotFound):
        backend.uninstall(REF)

    # Then each step did what helm would, with the commands we expect
    assert [a.backend_ref for a in (installed, upgraded, kept, scaled, pruned)] == [
        "1",
        "2",
        "3",
        "4",
        "5",
    ]
    assert (installed.app_version, upgraded.app_version) == ("1.16.0", "1.17.0")
    assert kept.extensions["helm.rollbackMethod"] == "rollback"
    assert pruned.extensions["helm.rollbackMethod"] == "redeploy"
    assert (ready.phase, ready.message) == (RolloutPhase.READY, "All 2 replicas ready")
    assert [r.backend_ref for r in history] == ["3", "4", "5"]
    assert [r.description for r in history] == [
        "Rollback to 1",
        "Upgrade complete",
        "Upgrade complete",
    ]
    assert gone.phase is RolloutPhase.ABSENT

    calls = _calls(fake_helm)
    subcommands = [c["argv"][0] if c["argv"][0] != "get" else "get values" for c in calls]
    assert subcommands == [
        "install",
        "upgrade",
        "history",
        "get values",
        "rollback",
        "history",
        "upgrade",
        "history",
        "upgrade",
        "status",
        "history",
        "uninstall",
        "status",
        "uninstall",
    ]
    assert calls[0]["argv"][:3] == ["install", "demo", f"{HELM4}/demo-0.1.0.tgz"]
    assert calls[4]["argv"][:3] == ["rollback", "demo", "1"]
    assert json.loads(calls[0]["stdin"]) == first  # values reach helm on stdin only
    assert json.loads(calls[6]["stdin"]) == {**first, "replicaCount": 4}
    assert json.loads(calls[8]["stdin"]) == first

    # And every call had its own private kubeconfig, gone now, and no secret on its argv
    for call in calls:
        assert call["mode"] == 0o600
        assert call["server"] == "https://eks.example.com"
        assert call["env_kubeconfig"] is False
        assert not Path(call["kubeconfig"]).exists()
        assert not any(secret in " ".join(call["argv"]) for secret in SECRETS)
    assert len({c["kubeconfig"] for c in calls}) == len(calls)
    logged = caplog.text + " ".join(repr(r.__dict__) for r in caplog.records)
    assert not any(secret in logged for secret in SECRETS)
    assert TOKEN not in (fake_helm.parent / "calls.jsonl").read_text()


def test_fake_helm_install_of_an_existing_release_is_a_conflict(
    fake_helm: Path, tmp_path: Path
) -> None:
    runner = HelmRunner(fake_helm, env={"PATH": ""}, state_dir=tmp_path / "state")
    settings = HelmSettings(allow_local_charts=True)
    backend = HelmBackend(StaticCredentials(), settings=settings, runner=runner)
    backend.install(target(chart=_chart("0.1.0")))

    with pytest.raises(ReleaseConflict, match="cannot reuse a name"):
        backend.install(target(chart=_chart("0.1.0")))
