"""The ``SecretSealer`` port: secret parameter values sealed with KMS envelope encryption.

``seal`` asks KMS for one data key (``GenerateDataKey``, AES-256) when it has a secret to
seal, and none otherwise, so a deployment without secrets never calls KMS. Each value is
JSON-encoded and encrypted with AES-256-GCM under that key with a fresh nonce; the sealed
string carries all that is needed to open it again::

    o2dms:sealed:v1:<base64(len(encrypted key), 2 bytes | encrypted key | nonce | ciphertext)>

Data keys are bound to the table by the encryption context ``{"o2dms:table": <name>}``: a
value copied into another table's items does not open there. ``unseal`` asks KMS to decrypt
each distinct data key once and keeps the last few plaintext data keys in memory (a key it
has just generated too), so a warm function reads back what it sealed without calling KMS.
``cryptography`` is imported on first use, off the cold-start path; the KMS client is built
on first use.

KMS unreachable or refusing: ``SecretsUnavailable`` (503). A sealed value that does not
decrypt (altered, or sealed for another table or key): ``SealedSecretUnreadable``. Messages
and logs name the parameter's path and KMS's error code, never a value.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.adapters.lazy import Lazy
from chalicelib.domain.errors import SealedSecretUnreadable, SecretsUnavailable
from chalicelib.domain.models import JsonObject
from chalicelib.domain.secrets import (
    SEALED_MARK,
    LeafPath,
    is_sealed,
    leaf_at,
    replace_leaves,
    secret_leaf_paths,
)

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

logger = logging.getLogger(__name__)

PREFIX = f"{SEALED_MARK}v1:"
_AAD = PREFIX.encode()  # a blob opens only as the format version it was sealed in
_NONCE_BYTES = 12
_TAG_BYTES = 16
_KEY_LENGTH_BYTES = 2
CACHED_DATA_KEYS = 64
# KMS's answers for a ciphertext it will not decrypt with this key and context.
_UNREADABLE_CODES = frozenset({"InvalidCiphertextException", "IncorrectKeyException"})


class KmsSealer:
    """Seals with the KMS key ``key_arn``; without one, refuses to seal any secret (they are
    never stored in clear) and still opens what was sealed before."""

    def __init__(
        self,
        kms: Callable[[], Any],
        *,
        key_arn: str | None,
        table_name: str,
        cached_data_keys: int = CACHED_DATA_KEYS,
    ) -> None:
        self._kms = Lazy(kms)
        self._key_arn = key_arn
        self._context = {"o2dms:table": table_name}
        self._keys: dict[bytes, bytes] = {}  # encrypted data key -> plaintext data key
        self._capacity = max(1, cached_data_keys)
        self._lock = threading.Lock()

    def seal(self, values: JsonObject, paths: tuple[str, ...] = ()) -> JsonObject:
        targets = [p for p in secret_leaf_paths(values, paths) if not is_sealed(leaf_at(values, p))]
        if not targets:
            sealed: JsonObject = replace_leaves(values, {})
            return sealed
        data_key, encrypted_key = self._new_data_key()
        aead = _aead(data_key)
        blobs = {path: _seal_one(aead, encrypted_key, leaf_at(values, path)) for path in targets}
        logger.info("secret parameters sealed", extra={"count": len(blobs)})
        sealed = replace_leaves(values, blobs)
        return sealed

    def unseal(self, values: JsonObject) -> JsonObject:
        opened: dict[LeafPath, Any] = {}
        for path in secret_leaf_paths(values):
            blob = leaf_at(values, path)
            if is_sealed(blob):
                opened[path] = self._open(blob, path)
        plain: JsonObject = replace_leaves(values, opened)
        return plain

    # ------------------------------------------------------------------------ KMS

    def _new_data_key(self) -> tuple[bytes, bytes]:
        if self._key_arn is None:
            raise SecretsUnavailable(
                "Secret parameter values cannot be stored: no KMS key is configured to seal"
                " them with (O2DMS_SECRETS_KEY_ARN), and they are never stored in clear"
            )
        try:
            answer = self._kms().generate_data_key(
                KeyId=self._key_arn, KeySpec="AES_256", EncryptionContext=self._context
            )
        except ClientError as exc:
            raise _unavailable("sealed", _code(exc)) from exc
        except BotoCoreError as exc:
            raise _unavailable("sealed", "unreachable") from exc
        data_key, encrypted_key = bytes(answer["Plaintext"]), bytes(answer["CiphertextBlob"])
        self._remember(encrypted_key, data_key)
        return data_key, encrypted_key

    def _data_key(self, encrypted_key: bytes, path: LeafPath) -> bytes:
        with self._lock:
            known = self._keys.get(encrypted_key)
        if known is not None:
            return known
        request: dict[str, Any] = {
            "CiphertextBlob": encrypted_key,
            "EncryptionContext": self._context,
        }
        if self._key_arn is not None:
            request["KeyId"] = self._key_arn
        try:
            answer = self._kms().decrypt(**request)
        except ClientError as exc:
            code = _code(exc)
            if code in _UNREADABLE_CODES:
                raise _unreadable(path, f"KMS: {code}") from exc
            raise _unavailable("read", code) from exc
        except BotoCoreError as exc:
            raise _unavailable("read", "unreachable") from exc
        data_key = bytes(answer["Plaintext"])
        self._remember(encrypted_key, data_key)
        return data_key

    def _remember(self, encrypted_key: bytes, data_key: bytes) -> None:
        with self._lock:
            while len(self._keys) >= self._capacity:
                self._keys.pop(next(iter(self._keys)))  # the oldest
            self._keys[encrypted_key] = data_key

    # --------------------------------------------------------------------- blobs

    def _open(self, blob: str, path: LeafPath) -> Any:
        encrypted_key, nonce, ciphertext = _parse(blob, path)
        aead = _aead(self._data_key(encrypted_key, path))
        from cryptography.exceptions import InvalidTag

        try:
            text = aead.decrypt(nonce, ciphertext, _AAD)
        except InvalidTag as exc:
            raise _unreadable(path, "its ciphertext fails authentication") from exc
        try:
            return json.loads(text)
        except ValueError:
            raise _unreadable(path, "it is not JSON") from None  # no plaintext in a traceback


def _seal_one(aead: AESGCM, encrypted_key: bytes, value: Any) -> str:
    nonce = os.urandom(_NONCE_BYTES)
    ciphertext = aead.encrypt(nonce, json.dumps(value, separators=(",", ":")).encode(), _AAD)
    raw = len(encrypted_key).to_bytes(_KEY_LENGTH_BYTES, "big") + encrypted_key + nonce + ciphertext
    return PREFIX + base64.b64encode(raw).decode("ascii")


def _parse(blob: str, path: LeafPath) -> tuple[bytes, bytes, bytes]:
    """(encrypted data key, nonce, ciphertext) of a sealed string."""
    if not blob.startswith(PREFIX):
        raise _unreadable(path, "it was sealed in a format this version does not read")
    try:
        raw = base64.b64decode(blob[len(PREFIX) :], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise _unreadable(path, "it is not valid base64") from exc
    length = int.from_bytes(raw[:_KEY_LENGTH_BYTES], "big")
    key_end = _KEY_LENGTH_BYTES + length
    nonce_end = key_end + _NONCE_BYTES
    if length == 0 or len(raw) < nonce_end + _TAG_BYTES:
        raise _unreadable(path, "it is truncated")
    return raw[_KEY_LENGTH_BYTES:key_end], raw[key_end:nonce_end], raw[nonce_end:]


def _aead(data_key: bytes) -> AESGCM:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    return AESGCM(data_key)


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", "Unknown"))


def _unavailable(verb: str, code: str) -> SecretsUnavailable:
    logger.warning("kms call failed", extra={"code": code})
    return SecretsUnavailable(
        f"Secret parameter values cannot be {verb} now: the KMS key is unavailable ({code})"
    )


def _unreadable(path: LeafPath, why: str) -> SealedSecretUnreadable:
    where = ".".join(str(step) for step in path)
    logger.error("sealed secret unreadable", extra={"path": where, "why": why})
    return SealedSecretUnreadable(
        f"The stored secret parameter {where} cannot be decrypted ({why}): it was altered,"
        " or sealed for another table or key"
    )
