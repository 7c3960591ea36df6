"""`interfleet certs`: a local CA and the files a secured fleet needs.

The folder itself holds what the fleet's services mount (and nothing else, so
`kubectl create secret generic ... --from-file=certs/`, which takes a folder's files and not its
subfolders, never ships a key the services do not need):

    ca.pem                   the CA's certificate
    server.pem, server.key   the router's and workers' certificate, for every --host given
                             (plus localhost, 127.0.0.1 and interfleet.fleet); valid for server and client auth,
                             so the router presents it to workers as its identity
    fleet.key                the HMAC key workers and the predictor sign their records with
    tokens.txt               one bearer token of scope `infer` and one of scope `read`
    redis.password           a password for Redis (`requirepass`)
    operator/ca.key          the CA's key: keep it offline, with whoever issues certificates
    clients/client.pem, .key a client certificate, for clients when the router requires mTLS

For a local or test fleet; a production fleet takes its certificates from its own PKI (in
Kubernetes, cert-manager) and only needs the same file layout. Existing files are kept unless
--force is given. Private keys and secrets are written mode 0600.
"""

from __future__ import annotations

import argparse
import datetime
import ipaddress
import os
import secrets
import sys
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALID_DAYS = 825
# Always in the server certificate: routers with `worker_tls_name: interfleet.fleet` verify any
# worker by it, whatever address it advertises (a pod IP).
FLEET_NAME = "interfleet.fleet"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="certs", help="folder to write into (default certs/)")
    parser.add_argument(
        "--host",
        action="append",
        default=[],
        help="a DNS name or IP the servers are dialled by (repeatable), e.g. router, workers",
    )
    parser.add_argument("--force", action="store_true", help="replace files that exist")


def run(args: argparse.Namespace) -> None:
    out = Path(args.out)
    if (out / "ca.pem").exists() and not args.force:
        sys.exit(f"interfleet certs: {out}/ca.pem exists (--force replaces everything in {out})")
    written = make_fleet_credentials(out, args.host)
    print(f"wrote {', '.join(sorted(p.name for p in written))} to {out}/")


def make_fleet_credentials(out: Path, hosts: list[str]) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    os.chmod(out, 0o700)  # whatever the umask: the folder holds the CA key and the tokens
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "interfleet local CA")])
    now = datetime.datetime.now(datetime.UTC)
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    written = [
        _write(out / "ca.pem", ca.public_bytes(serialization.Encoding.PEM)),
        _write_key(_private_folder(out / "operator") / "ca.key", ca_key),
    ]
    names = sorted({"localhost", "127.0.0.1", FLEET_NAME, *hosts})
    for stem, common_name, sans, usages in (
        (
            "server",
            "interfleet fleet",
            names,
            [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH],
        ),
        ("client", "interfleet client", [], [ExtendedKeyUsageOID.CLIENT_AUTH]),
    ):
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
            .issuer_name(ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        )
        if sans:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([_general_name(n) for n in sans]), critical=False
            )
        cert = builder.sign(ca_key, hashes.SHA256())
        folder = out if stem == "server" else _private_folder(out / "clients")
        written += [
            _write(folder / f"{stem}.pem", cert.public_bytes(serialization.Encoding.PEM)),
            _write_key(folder / f"{stem}.key", key),
        ]
    written.append(_write(out / "fleet.key", secrets.token_hex(32).encode() + b"\n", secret=True))
    tokens = f"{secrets.token_urlsafe(32)} infer\n{secrets.token_urlsafe(32)} read\n"
    written.append(_write(out / "tokens.txt", tokens.encode(), secret=True))
    written.append(_write(out / "redis.password", secrets.token_urlsafe(24).encode(), secret=True))
    return written


def _private_folder(path: Path) -> Path:
    path.mkdir(exist_ok=True)
    os.chmod(path, 0o700)
    return path


def _general_name(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> Path:
    return _write(
        path,
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
        secret=True,
    )


def _write(path: Path, data: bytes, secret: bool = False) -> Path:
    path.unlink(missing_ok=True)
    path.touch(mode=0o600)
    os.chmod(path, 0o600 if secret else 0o644)  # explicit: touch's mode is cut by the umask, never widened
    path.write_bytes(data)
    return path
