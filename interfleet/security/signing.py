"""Records in Redis that prove they come from the fleet: HMAC-SHA256 with a shared fleet key.

Anyone who can write to Redis could otherwise register a worker (and receive client tensors) or
publish a predictor model that every router parses. With a fleet key, writers seal what they
publish and readers refuse what does not open:

    sealed = b"ifsig1:" + hex(HMAC-SHA256(key, purpose + b"\\0" + payload)) + b":" + payload

`purpose` ("worker-state:<id>", "predictor-model") binds a seal to what it was made for, so a
valid worker registration cannot be replayed as a model, or as another worker. Without a key,
`seal` returns the payload as it is and `open` accepts both forms (a mixed rollout keeps
working); with one, an unsealed or wrongly sealed record raises `BadSignature`.
"""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

from interfleet.errors import ConfigError

PREFIX = b"ifsig1:"
_MAC_HEX = 64
PREDICTOR_MODEL = "predictor-model"


def worker_state(worker_id: str) -> str:
    """The purpose a worker's heartbeat is sealed for: valid under its own id only."""
    return f"worker-state:{worker_id}"


def batch_record(worker_id: str) -> str:
    """The purpose a worker's batch records are sealed for: valid under its own id only."""
    return f"batch-record:{worker_id}"


class BadSignature(ValueError):
    """A record that is unsealed, or sealed with another key or for another purpose."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason  # "unsigned" or "bad_signature": a metric label


def load_fleet_key(key: str | None, key_file: str | None) -> bytes | None:
    """The fleet key from its text (an env var) or a file (a mounted secret); None: signing off.
    A key that is given but empty is a configuration error, never a quiet "signing off"."""
    if key is not None:
        if not key.strip():
            raise ConfigError("fleet_key (INTERFLEET_FLEET_KEY) is set but empty: give the key, or unset it")
        return key.encode()
    if key_file:
        try:
            text = Path(key_file).read_bytes().strip()
        except OSError as exc:
            raise ConfigError(f"fleet key file {key_file}: {exc.strerror}") from None
        if not text:
            raise ConfigError(f"fleet key file {key_file} is empty")
        return text
    return None


class Sealer:
    def __init__(self, key: bytes | None):
        self.key = key

    @property
    def enabled(self) -> bool:
        return self.key is not None

    def _mac(self, purpose: str, payload: bytes) -> bytes:
        return hmac.new(self.key, purpose.encode() + b"\0" + payload, hashlib.sha256).hexdigest().encode()

    def seal(self, purpose: str, payload: bytes) -> bytes:
        if self.key is None:
            return payload
        return PREFIX + self._mac(purpose, payload) + b":" + payload

    def open(self, purpose: str, sealed: bytes) -> bytes:
        """The payload of `sealed`, checked when this sealer has a key."""
        payload = unsealed(sealed)
        if self.key is None:
            return payload
        if payload is sealed:
            raise BadSignature("unsigned", f"{purpose}: not signed with the fleet key")
        if not hmac.compare_digest(sealed[len(PREFIX) : len(PREFIX) + _MAC_HEX], self._mac(purpose, payload)):
            raise BadSignature("bad_signature", f"{purpose}: signature does not match the fleet key")
        return payload


def unsealed(sealed: bytes) -> bytes:
    """The payload of a record, sealed or not, without checking anything."""
    start = len(PREFIX) + _MAC_HEX
    if sealed.startswith(PREFIX) and sealed[start : start + 1] == b":":
        return sealed[start + 1 :]
    return sealed
