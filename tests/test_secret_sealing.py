"""Secret parameter values are sealed with KMS before they are stored: the table never holds
them in clear, the backend gets them in clear (the local cluster, Helm's values on stdin),
a rollback redeploys them from the stored snapshot, plans show ``***``, a deployment without
secrets never calls KMS, and a tampered value fails with a clear error."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field, replace
from typing import Any

from chalicelib import composition
from chalicelib.adapters.dynamodb_items import deployment_key, revision_key
from chalicelib.adapters.helm.backend import HelmBackend
from chalicelib.adapters.helm.commands import VALUES_FROM_STDIN
from chalicelib.adapters.kms_sealer import PREFIX, KmsSealer
from chalicelib.domain.models import DeploymentManager
from chalicelib.domain.ports import Action, DeploymentBackend, PlanStep, ReleaseTarget
from chalicelib.domain.secrets import MASK, hide, is_sealed, mask, secret_leaf_paths
from chalicelib.service.context import Deps
from tests.api_helpers import NGINX_DESCRIPTOR, call
from tests.conftest import TABLE, World
from tests.helm_fakes import FakeRunner, StaticCredentials, fixture

DB_AUTH = "s3cr3t-Pa55word"  # marked writeOnly by the schema, under a neutral key
DB_PASSWORD = "by-name-Pa55"  # secret by its key's name (dbPassword)
NEW_AUTH = "An0ther-Pa55word"
SECRETS = (DB_AUTH, DB_PASSWORD, NEW_AUTH)
SCHEMA = {
    "type": "object",
    "properties": {
        "db": {
            "type": "object",
            "properties": {"auth": {"type": "string", "writeOnly": True, "minLength": 12}},
        },
        "dbPassword": {"type": "string"},
        "replicaCount": {"type": "integer"},
    },
}
BASE = "nfDeployments/nginx-prod"
CREATE = {
    "name": "nginx-prod",
    "descriptorId": "nginx-chart-1.2.0",
    "parameters": {"db": {"auth": DB_AUTH}, "dbPassword": DB_PASSWORD},
}
SEALED = "o2dms:sealed:v1:"


def _descriptor(client: Any, *, schema: bool = True) -> None:
    body = {**NGINX_DESCRIPTOR, **({"parameterSchema": SCHEMA} if schema else {})}
    assert call(client, "POST", "nfDeploymentDescriptors", body).status == 201


def _create(client: Any, world: World) -> None:
    _descriptor(client)
    created = call(client, "POST", "nfDeployments", CREATE)
    assert created.status == 201, created.body
    world.settle()


def _upgrade(client: Any, world: World, auth: str = NEW_AUTH) -> None:
    upgraded = call(client, "PUT", BASE, {"parameters": {"db": {"auth": auth}}})
    assert upgraded.status == 200, upgraded.body
    world.settle()


def _table_text(dynamodb: Any) -> str:
    """Every item of the table, raw, as one text."""
    items = dynamodb.get_paginator("scan").paginate(TableName=TABLE).build_full_result()["Items"]
    return json.dumps(items)


def _item_json(dynamodb: Any, key: dict[str, Any], name: str) -> Any:
    return json.loads(dynamodb.get_item(TableName=TABLE, Key=key)["Item"][name]["S"])


def _current_values(world: World) -> dict[str, Any]:
    with world.cluster.releases() as releases:
        return dict(releases[("default", "nginx-prod")].current.values)


def _use(world: World, **ports: Any) -> Deps:
    deps = replace(world.deps, **ports)
    composition.use(deps)
    world.driver.deps = deps
    return deps


def _backend(backend: DeploymentBackend) -> Any:
    def resolve(*, adapter: str, manager: DeploymentManager) -> DeploymentBackend:
        return backend

    return resolve


@dataclass
class ObjectPlans:
    """The local cluster's backend, planning as a GitOps adapter does: an object that
    carries the values (Flux's ``spec.values``, Argo CD's ``valuesObject``)."""

    inner: DeploymentBackend
    planned: list[ReleaseTarget] = field(default_factory=list)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def plan(self, action: Action) -> list[PlanStep]:
        self.planned.append(action.target)
        body = {"kind": "HelmRelease", "spec": {"values": action.target.values}}
        return [PlanStep("Apply HelmRelease default/nginx-prod", body=body)]


# ------------------------------------------------------------------------ at rest


def test_sealing_secrets_are_stored_sealed_and_reach_the_backend_in_clear(
    client: Any, world: World, dynamodb: Any
) -> None:
    _create(client, world)
    _upgrade(client, world)

    stored = _table_text(dynamodb)
    for secret in SECRETS:
        assert secret not in stored
    assert SEALED in stored
    parameters = _item_json(dynamodb, deployment_key("nginx-prod"), "parameters")
    values = _item_json(dynamodb, revision_key("nginx-prod", 2), "values")
    for snapshot in (parameters, values):
        assert is_sealed(snapshot["db"]["auth"])
        assert is_sealed(snapshot["dbPassword"])
    assert values["image"] == {"repository": "nginx", "tag": "1.20.0"}  # the rest in clear
    assert values["replicaCount"] == 2
    backend = _current_values(world)
    assert backend["db"]["auth"] == NEW_AUTH
    assert backend["dbPassword"] == DB_PASSWORD
    shown = json.dumps([call(client, "GET", p).body for p in (BASE, f"{BASE}/history/2")])
    assert SEALED not in shown
    assert call(client, "GET", BASE).body["parameters"]["db"] == {"auth": MASK}


def test_sealing_a_rollback_redeploys_the_stored_snapshot_in_clear(
    client: Any, world: World
) -> None:
    _create(client, world)
    world.cluster.max_history = 1  # the cluster forgets revision 1: our snapshot is used
    _upgrade(client, world)

    rolled = call(client, "POST", f"{BASE}/rollback", {"revision": 1})
    world.settle()

    assert rolled.status == 200, rolled.body
    with world.cluster.releases() as releases:
        current = releases[("default", "nginx-prod")].current
    assert current.description == "Redeploy of stored revision 3"
    assert current.values["db"]["auth"] == DB_AUTH
    assert current.values["dbPassword"] == DB_PASSWORD


def test_sealing_an_upgrade_checks_the_stored_secrets_in_clear_against_the_schema(
    client: Any, world: World, dynamodb: Any
) -> None:
    _create(client, world)

    scaled = call(client, "POST", f"{BASE}/scale", {"replicas": 3})  # revalidates db.auth
    world.settle()
    too_short = call(client, "PUT", BASE, {"parameters": {"db": {"auth": "short-pw"}}})

    assert scaled.status == 204, scaled.body
    assert too_short.status == 422
    assert "db.auth" in too_short.body["message"]
    assert "short-pw" not in json.dumps(too_short.body)
    assert _current_values(world)["db"]["auth"] == DB_AUTH
    assert DB_AUTH not in _table_text(dynamodb)


# ------------------------------------------------------------------------- plans


def test_sealing_a_dry_run_hands_the_backend_clear_values_and_shows_stars(
    client: Any, world: World
) -> None:
    _create(client, world)
    _upgrade(client, world)
    planning = ObjectPlans(world.cluster.backend("helm"))
    _use(world, backends=_backend(planning))

    rollback = call(client, "POST", f"{BASE}/rollback?dryRun=true", {"revision": 1})
    upgrade = call(client, "PUT", f"{BASE}?dryRun=true", {"parameters": {"replicaCount": 3}})

    assert (rollback.status, upgrade.status) == (200, 200)
    to_revision_1, upgraded = planning.planned
    assert to_revision_1.values["db"]["auth"] == DB_AUTH  # what the backend would deploy
    assert upgraded.values["db"]["auth"] == NEW_AUTH
    assert upgraded.values["dbPassword"] == DB_PASSWORD
    shown = json.dumps([rollback.body, upgrade.body])
    for secret in SECRETS:
        assert secret not in shown
    assert SEALED not in shown
    values = rollback.body["plan"][0]["body"]["spec"]["values"]
    assert values["db"] == {"auth": MASK}
    assert values["dbPassword"] == MASK


def test_sealing_helm_gets_the_secret_values_in_clear_on_stdin(
    client: Any, world: World, dynamodb: Any
) -> None:
    runner = FakeRunner({"install": fixture("helm-install.json")})
    _use(world, backends=_backend(HelmBackend(StaticCredentials(), runner=runner)))
    _descriptor(client)

    created = call(client, "POST", "nfDeployments", CREATE)

    assert created.status == 201, created.body
    (install,) = (c for c in runner.calls if c.subcommand == "install")
    at = install.argv.index("--values")
    assert install.argv[at : at + 2] == VALUES_FROM_STDIN
    values = json.loads(install.stdin or b"")
    assert values["db"]["auth"] == DB_AUTH
    assert values["dbPassword"] == DB_PASSWORD
    for secret in (DB_AUTH, DB_PASSWORD):
        assert all(secret not in arg for arg in install.argv)
        assert secret not in _table_text(dynamodb)


# -------------------------------------------------------------------- KMS calls


def test_sealing_a_deployment_without_secrets_never_calls_kms(client: Any, world: World) -> None:
    _descriptor(client, schema=False)
    plain = {"name": "nginx-prod", "descriptorId": "nginx-chart-1.2.0"}

    assert call(client, "POST", "nfDeployments", plain).status == 201
    world.settle()
    assert call(client, "PUT", BASE, {"parameters": {"replicaCount": 3}}).status == 200
    world.settle()
    assert call(client, "POST", f"{BASE}/scale", {"replicas": 1}).status == 204
    world.settle()
    assert call(client, "POST", f"{BASE}/rollback", {"revision": 1}).status == 200
    world.settle()
    assert call(client, "PUT", f"{BASE}?dryRun=true", {"parameters": {}}).status == 200

    assert world.kms.calls == []


def test_sealing_takes_one_data_key_per_change_of_secrets_and_none_to_go_back(
    client: Any, world: World
) -> None:
    _create(client, world)
    assert world.kms.calls == ["generate_data_key"]  # read back from memory to deploy

    world.kms.calls.clear()
    rolled = call(client, "POST", f"{BASE}/rollback", {"revision": 0})
    world.settle()

    assert rolled.status == 409  # nothing to go back to yet
    _upgrade(client, world)
    assert world.kms.calls == ["generate_data_key"]
    world.kms.calls.clear()
    assert call(client, "POST", f"{BASE}/rollback", {"revision": 1}).status == 200
    assert world.kms.calls == []  # the stored snapshot is sealed already


def test_sealing_without_a_key_refuses_secrets_and_serves_the_rest(
    client: Any, world: World
) -> None:
    _use(world, sealer=KmsSealer(lambda: world.kms, key_arn=None, table_name=TABLE))
    _descriptor(client)

    refused = call(client, "POST", "nfDeployments", CREATE)
    plain = call(client, "POST", "nfDeployments", {**CREATE, "parameters": {"replicaCount": 1}})

    assert refused.status == 503
    assert "O2DMS_SECRETS_KEY_ARN" in refused.body["message"]
    assert plain.status == 201, plain.body
    assert world.kms.calls == []


def test_sealing_refuses_a_sealed_string_sent_as_a_value(client: Any, world: World) -> None:
    _descriptor(client)
    forged = {**CREATE, "parameters": {"note": f"{SEALED}AAAA"}}

    answer = call(client, "POST", "nfDeployments", forged)

    assert answer.status == 400
    assert "note" in answer.body["message"]


# --------------------------------------------------------------------- tampering


def test_sealing_a_tampered_value_fails_clearly_and_leaves_nothing_stuck(
    client: Any, world: World, dynamodb: Any
) -> None:
    _create(client, world)
    _upgrade(client, world)
    key = revision_key("nginx-prod", 1)
    values = _item_json(dynamodb, key, "values")
    raw = bytearray(base64.b64decode(values["db"]["auth"].removeprefix(PREFIX)))
    raw[-3] ^= 0x01
    values["db"]["auth"] = PREFIX + base64.b64encode(bytes(raw)).decode()
    dynamodb.update_item(
        TableName=TABLE,
        Key=key,
        UpdateExpression="SET #v = :v",
        ExpressionAttributeNames={"#v": "values"},
        ExpressionAttributeValues={":v": {"S": json.dumps(values)}},
    )

    planned = call(client, "POST", f"{BASE}/rollback?dryRun=true", {"revision": 1})
    rolled = call(client, "POST", f"{BASE}/rollback", {"revision": 1})

    for answer in (planned, rolled):
        assert answer.status == 500
        assert answer.body["message"].startswith(
            "The stored secret parameter db.auth cannot be decrypted"
        )
    status = call(client, "GET", f"{BASE}/status").body
    assert (status["status"], status["revision"]) == ("INSTANTIATED", 2)
    (failed, *_) = call(client, "GET", f"{BASE}/operations").body["operations"]
    assert failed["state"] == "FAILED"
    assert failed["error"]["error"] == "SealedSecretUnreadable"
    assert _current_values(world)["db"]["auth"] == NEW_AUTH


# ------------------------------------------------------------------------ domain


def test_sealing_secret_leaf_paths_cover_the_schema_the_name_rule_and_sealed_strings() -> None:
    values = {
        "db": {"auth": "a", "host": "h"},
        "tls": {"privateKey": {"pem": "k", "bits": 2048}},
        "users": [{"name": "u", "password": "p"}, {"password": None}],
        "note": f"{SEALED}AAAA",
        "auth": {"token": None},
    }

    paths = sorted(map(str, secret_leaf_paths(values, ("db.auth",))))

    assert paths == sorted(
        map(
            str,
            [
                ("db", "auth"),
                ("tls", "privateKey", "pem"),
                ("tls", "privateKey", "bits"),
                ("users", 0, "password"),
                ("note",),
            ],
        )
    )


def test_sealing_a_sealed_value_is_shown_as_stars_wherever_it_sits() -> None:
    blob = f"{SEALED}AAAA"

    assert mask({"note": blob, "list": [blob, "x"], "n": 1}) == {
        "note": MASK,
        "list": [MASK, "x"],
        "n": 1,
    }
    assert hide({"spec": {"values": [blob]}, "text": blob}, ()) == {
        "spec": {"values": [MASK]},
        "text": MASK,
    }
