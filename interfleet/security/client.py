"""How a client of the fleet connects: TLS files and a bearer token, for tritonclient and grpc.

Used by the load generator and the health probe; user code passes the same to tritonclient
itself (see docs/security.md's example).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import grpc

from interfleet.security.tls import TlsFiles


@dataclass(frozen=True)
class ClientAccess:
    tls: TlsFiles = TlsFiles()
    token: str | None = None

    @property
    def headers(self) -> dict[str, str] | None:
        return {"authorization": f"Bearer {self.token}"} if self.token else None

    def tritonclient_args(self) -> dict[str, Any]:
        """Keyword arguments for tritonclient.grpc(.aio).InferenceServerClient (it reads the files)."""
        if not self.tls.ca:
            return {}
        return {
            "ssl": True,
            "root_certificates": self.tls.ca,
            "private_key": self.tls.key,
            "certificate_chain": self.tls.cert,
        }

    def channel(self, address: str) -> grpc.Channel:
        credentials = self.tls.channel_credentials()
        return grpc.secure_channel(address, credentials) if credentials else grpc.insecure_channel(address)
