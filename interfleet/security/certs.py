"""`interfleet certs`: a local CA and an identity for every fleet service.

Each service gets its own certificate and key, its identity in the certificate
(`spiffe://interfleet/<role>/<name>`, see `identity`), in a folder of its own that holds what it
mounts and nothing else (one Kubernetes Secret per folder: `--from-file=certs/router/`):

    ca.pem                          the CA's certificate (also in every folder below)
    router/cert.pem, key.pem        the router's identity: the certificate clients verify (every
                                    --host given, plus localhost, 127.0.0.1), shown to workers
                                    too, and the key its interference marks are signed with
    router/tokens.txt               one bearer token of scope `infer` and one of scope `read`
    workers/<name>/cert.pem, key.pem  one per --worker (an id, or a pool prefix ending in `*`;
                                    default `*`, any worker): its TLS identity (with the fleet
                                    name interfleet.fleet) and the key its telemetry is signed with
    predictor/cert.pem, key.pem     the only identity that may sign predictor models
    planner/cert.pem, key.pem       the planner's: PlannerControl's server certificate (the hosts
                                    as the router's), shown to workers to load and unload models
    redis/cert.pem, key.pem         Redis's TLS server certificate (for `rediss://`)
    redis/users.acl                 Redis's users, one per role (`redis_roles`), passwords as digests
    */redis.password                each folder's own role's Redis password (redis/: the probe's,
                                    operator/: the admin's)
    operator/ca.key                 the CA's key: keep it offline, with whoever issues certificates
    clients/client.pem, .key        a client certificate, for clients when the router requires mTLS

A worker admits router identities, and the planner's to its control calls only; a reader of
Redis takes a record only from the identity entitled to it. For a local or test fleet; a
production fleet takes its certificates from its own PKI (cert-manager) with the same names in
them. Existing files are kept unless --force is given.
Private keys and secrets are written mode 0600, in folders of mode 0700.
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

from interfleet.security.identity import ServiceIdentity, name_attributes, parse_identity
from interfleet.security.redis_roles import acl_lines, users, worker_user

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
    parser.add_argument(
        "--worker",
        action="append",
        default=[],
        help="a worker identity to issue (repeatable): a worker id, or a pool prefix ending in '*' "
        "(default: one pool, '*', for every worker)",
    )
    parser.add_argument("--force", action="store_true", help="replace files that exist")


def run(args: argparse.Namespace) -> None:
    out = Path(args.out)
    if (out / "ca.pem").exists() and not args.force:
        sys.exit(f"interfleet certs: {out}/ca.pem exists (--force replaces everything in {out})")
    for worker in args.worker:
        if parse_identity(f"worker/{worker}") is None:
            sys.exit(f"interfleet certs: --worker {worker!r}: a worker id or pool prefix, without '/'")
    written = make_fleet_credentials(out, args.host, args.worker or ["*"])
    print(
        f"wrote {len(written)} files to {out}/: {', '.join(sorted({str(p.relative_to(out).parent) for p in written}))}"
    )


def worker_folder(name: str) -> str:
    """The folder a worker identity's files go in: its name, a pool's `*` spelt `_pool`."""
    return name.replace("*", "_pool") or "_pool"


def make_fleet_credentials(out: Path, hosts: list[str], workers: list[str] = ("*",)) -> list[Path]:
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
    ca_pem = ca.public_bytes(serialization.Encoding.PEM)
    written = [
        _write(out / "ca.pem", ca_pem),
        _write_key(_private_folder(out / "operator") / "ca.key", ca_key),
    ]

    def issue(
        folder: Path,
        subject: ServiceIdentity | str,
        sans: list[str],
        usages: list[x509.ObjectIdentifier],
        stem: str = "cert",
    ) -> None:
        """A certificate for `subject` (a fleet identity, or a plain common name) and its key, with
        the CA's certificate, into `folder`."""
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _issued(ca_key, ca_name, now, key, subject, sans, usages)
        written.extend(
            [
                _write(folder / f"{stem}.pem", cert.public_bytes(serialization.Encoding.PEM)),
                _write_key(folder / ("client.key" if stem == "client" else "key.pem"), key),
                _write(folder / "ca.pem", ca_pem),
            ]
        )

    both = [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
    served = sorted({"localhost", "127.0.0.1", *hosts})
    router = _private_folder(out / "router")
    issue(router, ServiceIdentity("router", "router"), served, both)
    for name in workers:
        folder = _private_folder(_private_folder(out / "workers") / worker_folder(name))
        issue(folder, ServiceIdentity("worker", name), sorted({FLEET_NAME, *served}), both)
    issue(_private_folder(out / "predictor"), ServiceIdentity("predictor", "predictor"), [], both)
    issue(_private_folder(out / "planner"), ServiceIdentity("planner", "planner"), served, both)
    clients = _private_folder(out / "clients")
    issue(clients, "interfleet client", [], [ExtendedKeyUsageOID.CLIENT_AUTH], stem="client")
    # Redis's own TLS certificate (not a fleet identity: it signs nothing the fleet reads).
    redis = _private_folder(out / "redis")
    issue(redis, "redis", sorted({"redis", *served}), [ExtendedKeyUsageOID.SERVER_AUTH])
    tokens = f"{secrets.token_urlsafe(32)} infer\n{secrets.token_urlsafe(32)} read\n"
    written.append(_write(router / "tokens.txt", tokens.encode(), secret=True))
    # A Redis user per role (`redis_roles`): each folder holds its own role's password only.
    passwords = {user: secrets.token_urlsafe(24) for user in users(workers)}
    holders = {
        "router": router,
        "predictor": out / "predictor",
        "planner": out / "planner",
        "probe": redis,
        "admin": out / "operator",
        **{worker_user(w): out / "workers" / worker_folder(w) for w in workers},
    }
    for user, folder in holders.items():
        written.append(_write(folder / "redis.password", passwords[user].encode(), secret=True))
    acl = "".join(f"{line}\n" for line in acl_lines(passwords, workers)).encode()  # digests only
    written.append(_write(redis / "users.acl", acl, secret=True))
    return written


def _issued(
    ca_key: ec.EllipticCurvePrivateKey,
    ca_name: x509.Name,
    now: datetime.datetime,
    key: ec.EllipticCurvePrivateKey,
    subject: ServiceIdentity | str,
    sans: list[str],
    usages: list[x509.ObjectIdentifier],
) -> x509.Certificate:
    """A leaf certificate signed by the CA; a fleet identity also goes in as a spiffe URI."""
    names: list[x509.GeneralName] = [_general_name(n) for n in sans]
    if isinstance(subject, ServiceIdentity):
        names.append(x509.UniformResourceIdentifier(subject.uri))
        name = name_attributes(subject)
    else:
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
    )
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(ca_key, hashes.SHA256())


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
