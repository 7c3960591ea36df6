"""Records in Redis that prove which fleet service wrote them: signed with the writer's own key.

Anyone who can write to Redis could otherwise register a worker (and receive client tensors),
teach the predictor, or publish a model every router parses. Each service signs what it writes
with the private key of its certificate (`interfleet certs` issues one per service; see
`identity` for the roles), and readers check three things: the signature, the certificate
(issued by the fleet CA, in date), and that its identity may sign the record's purpose:

    sealed = b"ifsig2:" + kid + b":" + base64url(ECDSA-P256-SHA256(purpose + b"\\0" + payload)) + b":" + payload

`kid` names the signing certificate (the first 16 bytes of its DER's SHA-256, in hex). Writers
put their certificate under it (the `identities` hash) in the same round trip as what they sign,
each time, so a Redis that restarted empty has it again at once; readers fetch the certificates
they do not know (`prepare`, a bounded number per pass) and keep the ones that check out. A
stolen worker key signs only as that worker: never another worker, a model or a mark.

Without a fleet CA (`fleet_ca`), signing is off: `seal` returns the payload as it is and `open`
accepts both forms. With one, an unsigned, wrongly signed, unknown or unentitled record raises
`BadSignature`, its reason a metric label.
"""

from __future__ import annotations

import base64
import collections
import datetime
import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import redis.asyncio as aioredis
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

from interfleet.errors import ConfigError
from interfleet.security.identity import ServiceIdentity, identity_of
from interfleet.telemetry.keys import FleetKeys

PREFIX = b"ifsig2:"
_KID_HEX = 32
_SIGNATURE_B64 = 86  # 64 bytes (r || s), base64url without padding
_HEADER = len(PREFIX) + _KID_HEX + 1 + _SIGNATURE_B64 + 1
PREDICTOR_MODEL = "predictor-model"
MAX_KNOWN_SIGNERS = 4096  # certificates kept once checked; far beyond any fleet's services
# Unknown signers fetched per `prepare`: a pass of new registrations (heartbeats.NEWEST_PER_PASS)
# finds all its certificates at once, and junk cannot make a pass long.
MAX_LOOKUPS_PER_PASS = 512


def worker_state(worker_id: str) -> str:
    """The purpose a worker's heartbeat is signed for: valid under its own id only."""
    return f"worker-state:{worker_id}"


def batch_record(worker_id: str) -> str:
    """The purpose a worker's batch records are signed for: valid under its own id only."""
    return f"batch-record:{worker_id}"


class BadSignature(ValueError):
    """A record that is unsigned, wrongly signed, by an unknown signer, or by one not entitled."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        # A metric label: unsigned, bad_signature, unknown_signer, not_permitted.
        self.reason = reason


def _read(path: str, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read {what} {path}: {exc.strerror}") from None


def key_id(certificate_der: bytes) -> bytes:
    return hashlib.sha256(certificate_der).hexdigest()[:_KID_HEX].encode()


class RecordSigner:
    """This service's certificate and key: signs the records it writes."""

    def __init__(self, cert_file: str, key_file: str):
        certificate = x509.load_pem_x509_certificate(_read(cert_file, "certificate"))
        key = serialization.load_pem_private_key(_read(key_file, "key"), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ConfigError(f"{key_file}: signing needs an EC P-256 key, as `interfleet certs` makes")
        identity = identity_of(certificate)
        if identity is None:
            raise ConfigError(
                f"{cert_file} carries no fleet identity (a spiffe://interfleet/<role>/<name> name): "
                "issue it with `interfleet certs`"
            )
        self.identity = identity
        self.certificate_der = certificate.public_bytes(serialization.Encoding.DER)
        self.kid = key_id(self.certificate_der)
        self._key = key

    def sign(self, purpose: str, payload: bytes) -> bytes:
        der = self._key.sign(purpose.encode() + b"\0" + payload, ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)
        raw = r.to_bytes(32, "big") + s.to_bytes(32, "big")
        return PREFIX + self.kid + b":" + base64.urlsafe_b64encode(raw).rstrip(b"=") + b":" + payload


@dataclass(frozen=True)
class _Signer:
    identity: ServiceIdentity
    public_key: ec.EllipticCurvePublicKey
    not_after: datetime.datetime


class RecordVerifier:
    """Opens signed records against the fleet CA (see the module docstring)."""

    def __init__(self, ca_file: str, wall_clock: Callable[[], float] | None = None):
        self._ca = x509.load_pem_x509_certificate(_read(ca_file, "fleet CA certificate"))
        self._now = wall_clock
        self._known: collections.OrderedDict[bytes, _Signer] = collections.OrderedDict()

    def _utcnow(self) -> datetime.datetime:
        if self._now is None:
            return datetime.datetime.now(datetime.UTC)
        return datetime.datetime.fromtimestamp(self._now(), datetime.UTC)

    def knows(self, kid: bytes) -> bool:
        return kid in self._known

    def learn(self, kid: bytes, certificate_der: bytes) -> ServiceIdentity | None:
        """Check a published certificate; keep its signer if the fleet CA issued it and it is in date."""
        try:
            certificate = x509.load_der_x509_certificate(certificate_der)
            certificate.verify_directly_issued_by(self._ca)
        except (ValueError, TypeError, InvalidSignature):
            return None
        now = self._utcnow()
        identity = identity_of(certificate)
        key = certificate.public_key()
        if (
            key_id(certificate_der) != kid
            or identity is None
            or not isinstance(key, ec.EllipticCurvePublicKey)
            or not certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc
        ):
            return None
        self._known[kid] = _Signer(identity, key, certificate.not_valid_after_utc)
        while len(self._known) > MAX_KNOWN_SIGNERS:
            self._known.popitem(last=False)
        return identity

    def open(self, purpose: str, sealed: bytes) -> bytes:
        if not sealed.startswith(PREFIX) or len(sealed) < _HEADER or sealed[_HEADER - 1 : _HEADER] != b":":
            raise BadSignature("unsigned", f"{purpose}: not signed by a fleet service")
        kid = sealed[len(PREFIX) : len(PREFIX) + _KID_HEX]
        signer = self._known.get(kid)
        if signer is None:
            raise BadSignature(
                "unknown_signer", f"{purpose}: signed by a certificate the fleet CA did not issue"
            )
        if self._utcnow() > signer.not_after:
            raise BadSignature(
                "unknown_signer", f"{purpose}: its signer's certificate ({signer.identity}) expired"
            )
        if not signer.identity.may_sign(purpose):
            raise BadSignature("not_permitted", f"{purpose}: {signer.identity} may not sign it")
        encoded = sealed[len(PREFIX) + _KID_HEX + 1 : _HEADER - 1]
        payload = sealed[_HEADER:]
        try:
            raw = base64.urlsafe_b64decode(encoded + b"==")
            signature = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
            signer.public_key.verify(signature, purpose.encode() + b"\0" + payload, ec.ECDSA(hashes.SHA256()))
        except (ValueError, InvalidSignature):
            raise BadSignature(
                "bad_signature", f"{purpose}: the signature does not match {signer.identity}'s key"
            ) from None
        return payload


class Sealer:
    """What a service signs with and checks against; either half may be absent.

    `Sealer()` neither signs nor checks (signing off). A writer has a `signer`; a reader has a
    `verifier`, and then refuses what does not open (`enabled`).
    """

    def __init__(self, signer: RecordSigner | None = None, verifier: RecordVerifier | None = None):
        self.signer = signer
        self.verifier = verifier

    @property
    def enabled(self) -> bool:
        return self.verifier is not None

    def seal(self, purpose: str, payload: bytes) -> bytes:
        return payload if self.signer is None else self.signer.sign(purpose, payload)

    def identify(self, pipe, keys: FleetKeys) -> None:
        """Queue this service's certificate on `pipe`, in the round trip of what it signs: readers
        check signatures against it, and a Redis that restarted empty has it again at once."""
        if self.signer is not None:
            pipe.hset(keys.identities, self.signer.kid, self.signer.certificate_der)

    def open(self, purpose: str, sealed: bytes) -> bytes:
        if self.verifier is None:
            return unsealed(sealed)
        return self.verifier.open(purpose, sealed)

    async def prepare(self, client: aioredis.Redis, keys: FleetKeys, blobs: Iterable[bytes | None]) -> None:
        """Fetch and check the certificates of signers of `blobs` not known yet (a bounded number)."""
        if self.verifier is None:
            return
        unknown: dict[bytes, None] = {}  # in the order met
        for blob in blobs:
            if blob and blob.startswith(PREFIX):
                kid = blob[len(PREFIX) : len(PREFIX) + _KID_HEX]
                if not self.verifier.knows(kid):
                    unknown[kid] = None
                    if len(unknown) >= MAX_LOOKUPS_PER_PASS:
                        break
        if not unknown:
            return
        kids = list(unknown)
        for kid, der in zip(kids, await client.hmget(keys.identities, kids)):
            if der is not None:
                self.verifier.learn(kid, der)


def unsealed(sealed: bytes) -> bytes:
    """The payload of a record, signed or not, without checking anything."""
    if sealed.startswith(PREFIX) and len(sealed) >= _HEADER and sealed[_HEADER - 1 : _HEADER] == b":":
        return sealed[_HEADER:]
    return sealed


def fleet_sealer(
    fleet_ca: str | None, cert: str | None, key: str | None, signs: bool = True, checks: bool = True
) -> Sealer:
    """A service's sealer from its config: with `fleet_ca`, sign with its own certificate (when
    it `signs`) and check others' records (when it `checks`); without, signing is off."""
    if not fleet_ca:
        return Sealer()
    if signs and not (cert and key):
        raise ConfigError(
            "fleet_ca is set, so this service signs what it publishes: it needs its own certificate "
            "and key (tls_cert and tls_key, from `interfleet certs`)"
        )
    return Sealer(
        RecordSigner(cert, key) if signs and cert and key else None,
        RecordVerifier(fleet_ca) if checks else None,
    )
