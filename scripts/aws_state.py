"""Keeps the local AWS emulator's state in a file, so that `make run` remembers it.

moto's server holds every table, schedule and alarm in memory, in one backend object per
service, account and region, and has no persistence of its own (its request recorder
replays every call, reads included, and grows without end). So the emulator saves those
backend objects with `pickle` to one file and loads them back at its next start:

- `ChangeTracker` (WSGI middleware) notes every request that may change something: any
  call but the reads it can tell by name (Get*, List*, Describe*, Query, Scan...).
- `StateKeeper` saves on a background thread at most every `interval` seconds while
  changes are noted, and once more when the emulator stops (SIGTERM, Ctrl-C). A snapshot of
  a few hundred items takes a few milliseconds, taken under the lock that serialises
  DynamoDB requests, so no write is caught half done.

The file is trusted local state written by this module (pickle runs code on load); it is
read only if it was written by the same moto version, otherwise the emulator starts clean
and says so.
"""

from __future__ import annotations

import copyreg
import importlib
import logging
import os
import pickle
import sys
import threading
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

logger = logging.getLogger("aws_state")

STATE_FORMAT = 1
READ_ACTION_PREFIXES = ("Get", "BatchGet", "TransactGet", "Query", "Scan", "Describe", "List")
Snapshot = dict[str, bytes]  # "module:attribute/account/region" -> the pickled backend


def may_change_state(environ: WSGIEnvironment) -> bool:
    """Whether a request may change what the emulator holds (when unsure: yes)."""
    if environ.get("REQUEST_METHOD", "GET") in {"GET", "HEAD", "OPTIONS"}:
        return False
    target = environ.get("HTTP_X_AMZ_TARGET", "")  # JSON protocols: Service_Version.Action
    path = str(environ.get("PATH_INFO", ""))
    if isinstance(target, str) and target:
        action = target.rpartition(".")[2]
    elif "/operation/" in path:  # the RPC v2 CBOR protocol: /service/Name/operation/Action
        action = path.rpartition("/")[2]
    else:
        return True  # REST and query protocols: the action is in the body or the method
    return not action.startswith(READ_ACTION_PREFIXES)


class ChangeTracker:
    """WSGI middleware: tells `keeper` about each request that may change the state, once
    it has been handled (so that a snapshot taken meanwhile is followed by another)."""

    def __init__(self, app: WSGIApplication, keeper: StateKeeper) -> None:
        self._app = app
        self._keeper = keeper

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        changes = may_change_state(environ)
        try:
            return self._app(environ, start_response)
        finally:
            if changes:
                self._keeper.changed()


def _backend_dicts() -> Iterator[tuple[str, Any]]:
    """("module:attribute", BackendDict) for every moto service used so far."""
    from moto.core.base_backend import BackendDict

    in_use: list[Any] = list(BackendDict._instances)  # type: ignore[misc]  # moto's own registry
    for backend_dict in in_use:
        name = _name_of(backend_dict)
        if name is None:
            logger.warning("cannot name moto's %s backends: not saved", backend_dict.service_name)
            continue
        yield name, backend_dict


def _name_of(backend_dict: Any) -> str | None:
    """Where moto defines `backend_dict`: the module of its backend class, by attribute."""
    module = sys.modules.get(getattr(backend_dict.backend, "__module__", ""))
    if module is None:
        return None
    for attribute, value in vars(module).items():
        if value is backend_dict:
            return f"{module.__name__}:{attribute}"
    return None


def _pickle_private_keys() -> None:
    """Let pickle copy the `cryptography` private keys moto's KMS keys hold (every key has
    one, for Sign and Verify), as PKCS#8 DER. Without this the KMS backend is not saved,
    and values sealed with its keys would never open again after a restart."""
    from cryptography.hazmat.bindings._rust import openssl
    from cryptography.hazmat.primitives import serialization

    def reduce(key: Any) -> tuple[Any, tuple[bytes]]:
        der = key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        return load_private_key, (der,)

    for kind in (openssl.rsa.RSAPrivateKey, openssl.ec.ECPrivateKey):
        copyreg.pickle(kind, reduce)


def load_private_key(der: bytes) -> Any:
    """A private key saved by `_pickle_private_keys`."""
    from cryptography.hazmat.primitives import serialization

    return serialization.load_der_private_key(der, None)


def snapshot() -> Snapshot:
    """Every backend moto has created, pickled one by one (one that cannot be is skipped)."""
    _pickle_private_keys()
    saved: Snapshot = {}
    for name, backend_dict in _backend_dicts():
        for account_id, regions in list(backend_dict.items()):
            for region, backend in list(regions.items()):
                try:
                    blob = pickle.dumps(backend, protocol=pickle.HIGHEST_PROTOCOL)
                except (pickle.PicklingError, TypeError, AttributeError) as exc:
                    logger.warning("cannot save %s in %s: %s", name, region, exc)
                    continue
                saved[f"{name}/{account_id}/{region}"] = blob
    return saved


def restore(saved: Snapshot) -> int:
    """Put the backends of `saved` in place of moto's; how many were restored."""
    restored = 0
    for key, blob in saved.items():
        name, account_id, region = key.split("/")
        module_name, _, attribute = name.partition(":")
        try:
            backend_dict = getattr(importlib.import_module(module_name), attribute)
            backend = pickle.loads(blob)  # our own file: see the module doc
        except (ImportError, AttributeError, pickle.UnpicklingError, EOFError) as exc:
            logger.warning("cannot restore %s in %s: %s", name, region, exc)
            continue
        # The account's own mapping, then the region set without creating a fresh backend.
        dict.__setitem__(backend_dict[account_id], region, backend)
        restored += 1
    return restored


def moto_version() -> str:
    import moto

    return str(moto.__version__)


class StateKeeper:
    """Saves the emulator's state to `path` when it has changed; loads it at start."""

    def __init__(
        self,
        path: Path,
        *,
        lock: threading.Lock | None = None,
        interval: float = 1.0,
    ) -> None:
        self.path = path
        self._lock: AbstractContextManager[Any] = lock if lock is not None else nullcontext()
        self._interval = interval
        self._dirty = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def load(self) -> int:
        """Restore the saved state, if any; the number of backends restored."""
        try:
            document = pickle.loads(self.path.read_bytes())  # our own file
        except FileNotFoundError:
            return 0
        except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError) as exc:
            logger.warning(
                "cannot read the saved AWS state %s (%s): starting clean", self.path, exc
            )
            return 0
        if not isinstance(document, dict) or document.get("format") != STATE_FORMAT:
            logger.warning("%s is not a saved AWS state: starting clean", self.path)
            return 0
        if document.get("moto") != moto_version():
            logger.warning(
                "%s was saved by moto %s, this is moto %s: starting clean",
                self.path,
                document.get("moto"),
                moto_version(),
            )
            return 0
        restored = restore(document["backends"])
        logger.info("restored the state of %d AWS backends from %s", restored, self.path)
        return restored

    def changed(self) -> None:
        self._dirty.set()

    def save(self) -> None:
        """Write the state now, whole, through a temporary file: never half a file."""
        self._dirty.clear()
        with self._lock:
            backends = snapshot()
        document = {"format": STATE_FORMAT, "moto": moto_version(), "backends": backends}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_name(f"{self.path.name}.partial")
        partial.write_bytes(pickle.dumps(document, protocol=pickle.HIGHEST_PROTOCOL))
        os.replace(partial, self.path)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="aws-state", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop saving in the background, then save what changed since the last save."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        for _ in range(3):
            if not self._dirty.is_set() or self._try_save():
                return

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            if self._dirty.is_set():
                self._try_save()

    def _try_save(self) -> bool:
        try:
            self.save()
        except (OSError, RuntimeError) as exc:  # RuntimeError: a backend changed mid-copy
            self._dirty.set()
            logger.warning("could not save the AWS state (will retry): %s", exc)
            return False
        return True
