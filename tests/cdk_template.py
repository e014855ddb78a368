"""The synthesized CloudFormation template of ``infra/``, produced the way ``make synth`` does
(``python infra/app.py``, no AWS credentials), and helpers to read it.

Synthesis builds the Lambda package when it is stale (``make package``) and has Chalice write
its template: about fifteen seconds, so a test session does it once: with pytest-xdist, the
first worker to get the lock writes the template and the others read it.
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
STAGE = "dev"
CLUSTER_ROLE_ARNS = ["arn:aws:iam::123456789012:role/o2dms-deployer"]
CLUSTER_ARNS = ["arn:aws:eks:eu-west-3:123456789012:cluster/ran-paris"]
IAM_PRINCIPALS = {"arn:aws:iam::123456789012:role/smo": ["o2dms-operator", "o2dms-viewer"]}
CONTEXT = {
    "stage": STAGE,
    "clusterRoleArns": CLUSTER_ROLE_ARNS,
    "clusterArns": CLUSTER_ARNS,
    "iamPrincipals": IAM_PRINCIPALS,
}
SYNTH_TIMEOUT_SECONDS = 600
_CREDENTIALS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE")


def synthesize(workdir: Path, context: dict[str, Any]) -> dict[str, Any]:
    """Run the CDK app in ``workdir`` and return the stack's template."""
    outdir = workdir / "cdk.out"
    env = {k: v for k, v in os.environ.items() if k not in _CREDENTIALS}
    env |= {"CDK_OUTDIR": str(outdir), "CDK_CONTEXT_JSON": json.dumps(context)}
    done = subprocess.run(
        [sys.executable, str(ROOT / "infra" / "app.py")],
        cwd=workdir,  # Chalice's construct packages into ./chalice.out
        env=env,
        capture_output=True,
        text=True,
        timeout=SYNTH_TIMEOUT_SECONDS,
        check=False,
    )
    if done.returncode != 0:
        raise AssertionError(f"synth failed (exit {done.returncode}):\n{done.stderr[-4000:]}")
    template: dict[str, Any] = json.loads(
        (outdir / f"{context['stage']}.template.json").read_text()
    )
    return template


def shared_template(shared_dir: Path) -> dict[str, Any]:
    """The session's template, synthesized by whichever worker gets here first."""
    shared_dir.mkdir(parents=True, exist_ok=True)
    result = shared_dir / "template.json"
    with (shared_dir / "synth.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not result.is_file():
            template = synthesize(shared_dir, CONTEXT)
            result.write_text(json.dumps(template))
    loaded: dict[str, Any] = json.loads(result.read_text())
    return loaded


def render(value: Any) -> Any:
    """Intrinsic functions as readable text: ``{"Ref": "X"}`` -> ``${X}``,
    ``{"Fn::GetAtt": ["X", "Arn"]}`` -> ``${X.Arn}``, ``Fn::Join`` joined; recursively."""
    if isinstance(value, list):
        return [render(v) for v in value]
    if isinstance(value, dict) and len(value) == 1:
        ((name, argument),) = value.items()
        if name == "Ref":
            return f"${{{argument}}}"
        if name == "Fn::GetAtt":
            return f"${{{'.'.join(argument)}}}"
        if name == "Fn::Join":
            separator, parts = argument
            return separator.join(str(render(p)) for p in parts)
    if isinstance(value, dict):
        return {k: render(v) for k, v in value.items()}
    return value


def resources(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == kind}


def arn_of(value: Any) -> str:
    """The logical id in ``{"Fn::GetAtt": [id, "Arn"]}``."""
    (logical_id, attribute) = value["Fn::GetAtt"]
    assert attribute == "Arn", value
    return str(logical_id)


def scheduler_role_id(template: dict[str, Any]) -> str:
    """The one role EventBridge Scheduler may assume."""
    (found,) = [
        logical_id
        for logical_id, role in resources(template, "AWS::IAM::Role").items()
        if "scheduler.amazonaws.com" in json.dumps(role["Properties"]["AssumeRolePolicyDocument"])
    ]
    return found


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def policy_documents(template: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every permission policy in the template: AWS::IAM::Policy / ManagedPolicy documents
    and roles' inline policies, each with where it is."""
    for logical_id, resource in template["Resources"].items():
        properties = resource.get("Properties", {})
        if resource["Type"] in {"AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"}:
            yield logical_id, properties["PolicyDocument"]
        if resource["Type"] == "AWS::IAM::Role":
            for policy in properties.get("Policies", []):
                yield f"{logical_id}/{policy['PolicyName']}", policy["PolicyDocument"]
        if resource["Type"] == "AWS::Serverless::Function":
            for policy in as_list(properties.get("Policies", [])):
                if isinstance(policy, dict) and "Statement" in policy:
                    yield f"{logical_id}/Policies", policy


def statements(document: dict[str, Any]) -> list[dict[str, Any]]:
    return as_list(document["Statement"])
