"""Real fleet identities for tests: a CA, certificates per role from `interfleet certs`, and
sealers over them, so tests sign and check records exactly as the services do.

`FleetIdentities(folder)` issues a router, a predictor and workers `w0`, `w1` and the pool `*`
(any id). `sealer(role)` signs as that identity and checks against the CA, already knowing every
certificate of this fleet (the services learn them from Redis; see `Sealer.prepare`).
`foreign` is a second fleet's: a CA this fleet does not trust.
"""

from __future__ import annotations

from pathlib import Path

from interfleet.security.certs import make_fleet_credentials, worker_folder
from interfleet.security.signing import RecordSigner, RecordVerifier, Sealer

WORKERS = ("w0", "w1", "*")


class FleetIdentities:
    def __init__(self, folder: Path):
        self.folder = folder
        make_fleet_credentials(folder, [], workers=list(WORKERS))
        self._signers = {
            "router": self._signer("router"),
            "predictor": self._signer("predictor"),
            **{f"worker/{w}": self._signer(f"workers/{worker_folder(w)}") for w in WORKERS},
        }

    def _signer(self, sub: str) -> RecordSigner:
        return RecordSigner(str(self.folder / sub / "cert.pem"), str(self.folder / sub / "key.pem"))

    def verifier(self) -> RecordVerifier:
        verifier = RecordVerifier(str(self.folder / "ca.pem"))
        for signer in self._signers.values():
            verifier.learn(signer.kid, signer.certificate_der)
        return verifier

    def sealer(self, identity: str = "worker/*") -> Sealer:
        return Sealer(self._signers[identity], self.verifier())

    def signer(self, identity: str) -> RecordSigner:
        return self._signers[identity]
