"""TLS for the fleet's ports: credentials from PEM files named in a service's config.

A server with `cert` and `key` serves TLS; with `client_ca` as well it requires every client to
present a certificate signed by that CA (mutual TLS). A client (the router dialling workers, the
health probe, the load generator) verifies the server against `ca` and, when it has `cert` and
`key`, presents them as its own identity. `interfleet certs` makes a local CA and such files.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

import grpc

from interfleet.errors import ConfigError


def _read(path: str, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read {what} {path}: {exc.strerror}") from None


@dataclass(frozen=True)
class TlsFiles:
    cert: str | None = None  # this side's certificate chain (PEM)
    key: str | None = None  # its private key (PEM)
    ca: str | None = None  # a client: the CA that signed the servers it dials
    client_ca: str | None = None  # a server: require client certificates signed by this CA

    def __post_init__(self) -> None:
        self.check()

    def check(self) -> None:
        """Raise ConfigError unless the files named fit together (a config's own validation calls it)."""
        if bool(self.cert) != bool(self.key):
            raise ConfigError("TLS needs both a certificate and its key (tls_cert and tls_key)")
        if self.client_ca and not self.cert:
            raise ConfigError(
                "requiring client certificates (tls_client_ca) needs TLS on (tls_cert, tls_key)"
            )

    @property
    def serves_tls(self) -> bool:
        return bool(self.cert)

    @property
    def dials_tls(self) -> bool:
        return bool(self.ca)

    def server_credentials(self) -> grpc.ServerCredentials | None:
        if not self.cert:
            return None
        pair = (_read(self.key, "TLS key"), _read(self.cert, "TLS certificate"))
        client_ca = _read(self.client_ca, "client CA") if self.client_ca else None
        return grpc.ssl_server_credentials(
            [pair], root_certificates=client_ca, require_client_auth=client_ca is not None
        )

    def server_ssl_context(self) -> ssl.SSLContext | None:
        """The same server TLS for an HTTP port (the router's REST endpoint)."""
        if not self.cert:
            return None
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        try:
            context.load_cert_chain(self.cert, self.key)
            if self.client_ca:
                context.load_verify_locations(self.client_ca)
                context.verify_mode = ssl.CERT_REQUIRED
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"TLS files {self.cert}, {self.key}: {exc}") from None
        return context

    def channel_credentials(self) -> grpc.ChannelCredentials | None:
        if not self.ca:
            return None
        return grpc.ssl_channel_credentials(
            root_certificates=_read(self.ca, "CA certificate"),
            private_key=_read(self.key, "TLS key") if self.key else None,
            certificate_chain=_read(self.cert, "TLS certificate") if self.cert else None,
        )
