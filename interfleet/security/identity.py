"""Who a fleet service is, from its certificate, and which records that identity may sign.

`interfleet certs` issues every service its own certificate, with its identity as a SPIFFE-style
URI in the subject alternative names and again as the common name:

    spiffe://interfleet/<role>/<name>        common name "<role>/<name>"

where the role is `router`, `worker`, `predictor` or `planner`, and a worker's name is the worker id it
speaks for, or a prefix ending in `*` for a pool of workers (`gpu-*`; `*` alone: any worker).
A record's purpose says who may sign it:

| purpose                  | signed by                              |
|--------------------------|----------------------------------------|
| worker-state:<id>        | a worker whose name covers <id>        |
| batch-record:<id>        | a worker whose name covers <id>        |
| interference-mark:<id>   | a router                               |
| predictor-model          | the predictor                          |

So a worker's key cannot speak for another worker or publish a model, and a router's cannot
forge a worker's telemetry. The same role names are what a worker admits callers by
(`peer_identity`): routers, and the planner to its WorkerControl (load, unload, state) only.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography import x509
from cryptography.x509.oid import NameOID

SCHEME = "spiffe://interfleet/"
ROLES = ("router", "worker", "predictor", "planner")
# Purpose kind (before the first ':') -> the role that signs it, and whether the rest must be
# an id the signer's name covers.
_SIGNERS = {
    "worker-state": ("worker", True),
    "batch-record": ("worker", True),
    "interference-mark": ("router", False),
    "predictor-model": ("predictor", False),
}


@dataclass(frozen=True)
class ServiceIdentity:
    role: str
    name: str

    @property
    def uri(self) -> str:
        return f"{SCHEME}{self.role}/{self.name}"

    @property
    def common_name(self) -> str:
        return f"{self.role}/{self.name}"

    def covers(self, instance: str) -> bool:
        """Whether this identity's name speaks for `instance` (a worker id)."""
        if self.name.endswith("*"):
            return instance.startswith(self.name[:-1])
        return instance == self.name

    def may_sign(self, purpose: str) -> bool:
        kind, _, instance = purpose.partition(":")
        rule = _SIGNERS.get(kind)
        if rule is None:
            return False
        role, per_instance = rule
        return self.role == role and (not per_instance or self.covers(instance))

    def __str__(self) -> str:
        return self.common_name


def parse_identity(text: str) -> ServiceIdentity | None:
    """`<role>/<name>` or its spiffe URI; None if it is neither."""
    text = text.removeprefix(SCHEME)
    role, _, name = text.partition("/")
    if role not in ROLES or not name or "/" in name:
        return None
    return ServiceIdentity(role, name)


def identity_of(certificate: x509.Certificate) -> ServiceIdentity | None:
    """The identity a certificate's URI subject alternative name carries, if it carries one."""
    try:
        names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return None
    for uri in names.get_values_for_type(x509.UniformResourceIdentifier):
        if uri.startswith(SCHEME) and (identity := parse_identity(uri)) is not None:
            return identity
    return None


def name_attributes(identity: ServiceIdentity) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, identity.role),
            x509.NameAttribute(NameOID.COMMON_NAME, identity.common_name),
        ]
    )


def matches(pattern: str, common_name: str) -> bool:
    """A peer pattern (`router/*`, `router/r0`) against a certificate's common name."""
    if pattern.endswith("*"):
        return common_name.startswith(pattern[:-1])
    return common_name == pattern
