"""``KmsSealer``: the exact KMS requests it makes (on a fake client), and sealing and
unsealing for real on moto's KMS: one data key per ``seal`` that has a secret, none
otherwise, each data key decrypted once, and clear errors that carry no value."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from moto import mock_aws

from chalicelib.adapters.kms_sealer import PREFIX, KmsSealer
from chalicelib.api.errors import status_for
from chalicelib.domain.errors import SealedSecretUnreadable, SecretsUnavailable
from chalicelib.domain.secrets import is_sealed
from tests.fakes import RecordingKms, kms_sealer

TABLE = "o2dms-test"
ARN = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
DATA_KEY = bytes(range(32))
ENCRYPTED_KEY = b"encrypted-data-key"
CONTEXT = {"o2dms:table": TABLE}
PASSWORD = "s3cr3t-Pa55word"
TOKEN = "tok-0123456789abcdef"
PLAIN_VALUES: dict[str, Any] = {
    "replicaCount": 2,
    "image": {"repository": "nginx", "tag": "1.25"},
    "db": {"auth": PASSWORD, "host": "db.internal", "port": 5432},
    "apiToken": TOKEN,
}


@dataclass
class FakeKms:
    """KMS handing out one fixed data key, noting every request (or failing as told)."""

    requests: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    error: Exception | None = None

    def generate_data_key(self, **request: Any) -> dict[str, Any]:
        return self._answer("GenerateDataKey", request)

    def decrypt(self, **request: Any) -> dict[str, Any]:
        return self._answer("Decrypt", request)

    def _answer(self, name: str, request: dict[str, Any]) -> dict[str, Any]:
        self.requests.append((name, request))
        if self.error is not None:
            raise self.error
        return {"Plaintext": DATA_KEY, "CiphertextBlob": ENCRYPTED_KEY, "KeyId": ARN}


def _fake_sealer(kms: FakeKms, *, key_arn: str | None = ARN, keys: int = 64) -> KmsSealer:
    return KmsSealer(lambda: kms, key_arn=key_arn, table_name=TABLE, cached_data_keys=keys)


@pytest.fixture
def moto_kms() -> Iterator[tuple[KmsSealer, RecordingKms]]:
    with mock_aws():
        yield kms_sealer(TABLE)


def _opened(blob: str) -> tuple[bytes, bytes, bytes]:
    raw = base64.b64decode(blob.removeprefix(PREFIX))
    length = int.from_bytes(raw[:2], "big")
    return raw[2 : 2 + length], raw[2 + length : 14 + length], raw[14 + length :]


def _tampered(blob: str, *, at: int) -> str:
    raw = bytearray(base64.b64decode(blob.removeprefix(PREFIX)))
    raw[at] ^= 0x01
    return PREFIX + base64.b64encode(bytes(raw)).decode()


# ------------------------------------------------------------------ requests (a fake)


def test_sealer_seal_asks_kms_for_one_aes_256_data_key_bound_to_the_table() -> None:
    kms = FakeKms()

    sealed = _fake_sealer(kms).seal(PLAIN_VALUES, ("db.auth",))

    assert kms.requests == [
        ("GenerateDataKey", {"KeyId": ARN, "KeySpec": "AES_256", "EncryptionContext": CONTEXT})
    ]
    blob = sealed["db"]["auth"]
    assert blob.startswith("o2dms:sealed:v1:")
    encrypted_key, nonce, ciphertext = _opened(blob)
    assert (encrypted_key, len(nonce)) == (ENCRYPTED_KEY, 12)
    assert AESGCM(DATA_KEY).decrypt(nonce, ciphertext, PREFIX.encode()) == b'"s3cr3t-Pa55word"'
    assert is_sealed(sealed["apiToken"])  # by the name rule
    assert _opened(sealed["apiToken"])[1] != nonce  # a fresh nonce per value
    assert {k: sealed[k] for k in ("replicaCount", "image")} == {
        "replicaCount": 2,
        "image": {"repository": "nginx", "tag": "1.25"},
    }
    assert sealed["db"]["host"] == "db.internal"


def test_sealer_unseal_decrypts_each_data_key_once_with_the_tables_context() -> None:
    sealed = _fake_sealer(FakeKms()).seal(PLAIN_VALUES, ("db.auth",))
    kms = FakeKms()
    reader = _fake_sealer(kms)

    first = reader.unseal(sealed)
    again = reader.unseal(sealed)

    assert first == again == PLAIN_VALUES
    assert kms.requests == [
        (
            "Decrypt",
            {"CiphertextBlob": ENCRYPTED_KEY, "EncryptionContext": CONTEXT, "KeyId": ARN},
        )
    ]


def test_sealer_without_a_secret_never_calls_kms_and_returns_a_copy() -> None:
    kms = FakeKms(error=AssertionError("KMS must not be called"))
    sealer = _fake_sealer(kms)
    plain = {"replicaCount": 2, "image": {"tag": "1.25"}, "auth": {"token": None}}

    sealed = sealer.seal(plain)
    opened = sealer.unseal(sealed)
    sealed["image"]["tag"] = "changed"

    assert kms.requests == []
    assert opened == plain
    assert plain["image"] == {"tag": "1.25"}


def test_sealer_reads_back_what_it_sealed_without_asking_kms() -> None:
    kms = FakeKms()
    sealer = _fake_sealer(kms)

    assert sealer.unseal(sealer.seal(PLAIN_VALUES, ("db.auth",))) == PLAIN_VALUES
    assert [name for name, _ in kms.requests] == ["GenerateDataKey"]


def test_sealer_without_a_key_refuses_secrets_and_keeps_serving_the_rest() -> None:
    kms = FakeKms()
    sealer = _fake_sealer(kms, key_arn=None)

    assert sealer.seal({"replicaCount": 3}) == {"replicaCount": 3}
    with pytest.raises(SecretsUnavailable, match="O2DMS_SECRETS_KEY_ARN") as refused:
        sealer.seal({"dbPassword": PASSWORD})

    assert kms.requests == []
    assert PASSWORD not in refused.value.message
    assert status_for(refused.value)[0] == 503


@pytest.mark.parametrize(
    ("error", "said"),
    [
        (
            ClientError({"Error": {"Code": "AccessDeniedException"}}, "GenerateDataKey"),
            "AccessDeniedException",
        ),
        (EndpointConnectionError(endpoint_url="https://kms.example"), "unreachable"),
    ],
)
def test_sealer_kms_failures_are_a_503_that_names_the_cause(error: Exception, said: str) -> None:
    sealer = _fake_sealer(FakeKms(error=error))

    with pytest.raises(SecretsUnavailable) as refused:
        sealer.seal({"dbPassword": PASSWORD})

    assert said in refused.value.message
    assert PASSWORD not in refused.value.message
    assert status_for(refused.value) == (503, "ServiceUnavailable")


# ------------------------------------------------------------------ for real, on moto


def test_sealer_seals_every_secret_leaf_at_any_depth_and_opens_them(
    moto_kms: tuple[KmsSealer, RecordingKms],
) -> None:
    sealer, kms = moto_kms
    plain: dict[str, Any] = {
        "db": {"auth": PASSWORD, "host": "db"},
        "pin": 1234,  # marked by the schema: any JSON value is sealed
        "tls": {"privateKey": {"pem": "-----BEGIN KEY-----", "bits": 2048}},
        "users": [{"name": "a", "password": "user-pw"}, {"name": "b", "password": None}],
        "auth": {"token": None},
        "replicaCount": 2,
    }

    sealed = sealer.seal(plain, ("db.auth", "pin"))

    assert kms.calls == ["generate_data_key"]
    shown = json.dumps(sealed)
    for secret in (PASSWORD, "1234", "BEGIN KEY", "2048", "user-pw"):
        assert secret not in shown
    assert is_sealed(sealed["pin"])
    assert is_sealed(sealed["tls"]["privateKey"]["bits"])
    assert sealed["users"][0]["name"] == "a"
    assert is_sealed(sealed["users"][0]["password"])
    assert sealed["users"][1]["password"] is None
    assert sealed["auth"] == {"token": None}
    assert sealed["db"]["host"] == "db"
    assert sealed["replicaCount"] == 2
    assert KmsSealer(lambda: kms, key_arn=None, table_name=TABLE).unseal(sealed) == plain


def test_sealer_leaves_sealed_values_as_they_are_and_seals_only_new_ones(
    moto_kms: tuple[KmsSealer, RecordingKms],
) -> None:
    sealer, kms = moto_kms
    stored = sealer.seal({"db": {"auth": PASSWORD}, "apiToken": TOKEN}, ("db.auth",))

    resealed = sealer.seal(stored, ("db.auth",))
    patched = sealer.seal({**stored, "apiToken": "tok-new"}, ("db.auth",))

    assert resealed == stored
    assert patched["db"]["auth"] == stored["db"]["auth"]
    assert is_sealed(patched["apiToken"])
    assert patched["apiToken"] != stored["apiToken"]
    assert kms.calls == ["generate_data_key", "generate_data_key"]  # none for the reseal
    assert sealer.unseal(patched) == {"db": {"auth": PASSWORD}, "apiToken": "tok-new"}


def test_sealer_in_a_new_process_decrypts_each_data_key_once(
    moto_kms: tuple[KmsSealer, RecordingKms],
) -> None:
    sealer, kms = moto_kms
    one = sealer.seal({"password": "one", "token": "two"})
    other = sealer.seal({"password": "three"})
    fresh = KmsSealer(lambda: kms, key_arn=None, table_name=TABLE)
    kms.calls.clear()

    opened = fresh.unseal({"a": one, "b": other, "c": one})

    assert opened == {
        "a": {"password": "one", "token": "two"},
        "b": {"password": "three"},
        "c": {"password": "one", "token": "two"},
    }
    assert kms.calls == ["decrypt", "decrypt"]


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (lambda blob: _tampered(blob, at=-5), "fails authentication"),  # the ciphertext
        (lambda blob: _tampered(blob, at=2 + 80), "KMS"),  # the data key's ciphertext
        (lambda blob: blob[:-8] + "!!!!!!!!", "base64"),
        (lambda blob: PREFIX + base64.b64encode(b"\x00\x05abc").decode(), "truncated"),
        (lambda blob: blob.replace(":v1:", ":v9:"), "format"),
    ],
)
def test_sealer_a_tampered_value_is_unreadable_and_no_value_leaks(
    moto_kms: tuple[KmsSealer, RecordingKms],
    caplog: pytest.LogCaptureFixture,
    change: Any,
    why: str,
) -> None:
    sealer, kms = moto_kms
    sealed = sealer.seal({"db": {"auth": PASSWORD}, "apiToken": TOKEN}, ("db.auth",))
    sealed["db"]["auth"] = change(sealed["db"]["auth"])
    fresh = KmsSealer(lambda: kms, key_arn=None, table_name=TABLE)  # no data key in memory

    with caplog.at_level(logging.DEBUG), pytest.raises(SealedSecretUnreadable) as unreadable:
        fresh.unseal(sealed)

    message = unreadable.value.message
    assert message.startswith("The stored secret parameter db.auth cannot be decrypted")
    assert why in message
    assert status_for(unreadable.value) == (500, "InternalError")
    for secret in (PASSWORD, TOKEN):
        assert secret not in message
        assert secret not in caplog.text


def test_sealer_keeps_a_bounded_number_of_data_keys(
    moto_kms: tuple[KmsSealer, RecordingKms],
) -> None:
    _, kms = moto_kms
    arn = kms.client.list_keys()["Keys"][0]["KeyArn"]
    sealer = KmsSealer(lambda: kms, key_arn=arn, table_name=TABLE, cached_data_keys=2)
    first, second, third = (sealer.seal({"password": f"pw-{n}"}) for n in range(3))
    kms.calls.clear()

    sealer.unseal(third)
    sealer.unseal(second)
    assert kms.calls == []  # the two newest data keys are kept
    assert sealer.unseal(first) == {"password": "pw-0"}
    assert kms.calls == ["decrypt"]


def test_sealer_a_value_sealed_for_another_table_does_not_open(
    moto_kms: tuple[KmsSealer, RecordingKms],
) -> None:
    sealer, kms = moto_kms
    sealed = sealer.seal({"dbPassword": PASSWORD})
    elsewhere = KmsSealer(lambda: kms, key_arn=None, table_name="o2dms-other")

    with pytest.raises(SealedSecretUnreadable, match="InvalidCiphertextException"):
        elsewhere.unseal(sealed)


def test_sealer_on_a_key_kms_does_not_know_is_a_503() -> None:
    with mock_aws():
        missing = ARN
        sealer = KmsSealer(lambda: boto3.client("kms"), key_arn=missing, table_name=TABLE)

        with pytest.raises(SecretsUnavailable, match="NotFoundException"):
            sealer.seal({"dbPassword": PASSWORD})
