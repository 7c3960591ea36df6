"""What holds a secret is the owner's alone whatever the umask, and a bearer token is read as
RFC 6750 says: the files `interfleet certs` and the ready files write, and the token check."""

from __future__ import annotations

import os
import stat

import pytest

from interfleet.ready_file import write_ready_file
from interfleet.security.certs import make_fleet_credentials
from interfleet.security.tokens import TokenAuth, load_tokens


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def open_umask():
    previous = os.umask(0)  # the worst case: nothing masked
    yield
    os.umask(previous)


def test_certs_are_owner_only_under_any_umask(tmp_path, open_umask):
    out = tmp_path / "certs"
    written = make_fleet_credentials(out, [], workers=["w0", "gpu-*"])
    folders = [
        "operator",
        "clients",
        "router",
        "predictor",
        "planner",
        "redis",
        "workers",
        "workers/w0",
        "workers/gpu-_pool",
    ]
    assert {mode(out / f) for f in ["", *folders]} == {0o700}
    by_path = {str(p.relative_to(out)): mode(p) for p in written}
    secrets = [
        p for p in by_path if p.endswith((".key", "key.pem", "tokens.txt", "redis.password", "users.acl"))
    ]
    assert len(secrets) == 17 and {by_path[p] for p in secrets} == {0o600}
    assert {by_path[p] for p in by_path if p not in secrets} == {0o644}  # certificates
    # Each service's folder holds what it mounts, and nothing of another's: one Secret per folder.
    files = {f: sorted(p.name for p in (out / f).iterdir() if p.is_file()) for f in folders}
    assert files["router"] == ["ca.pem", "cert.pem", "key.pem", "redis.password", "tokens.txt"]
    service = ["ca.pem", "cert.pem", "key.pem", "redis.password"]
    assert (
        files["predictor"] == files["planner"] == files["workers/w0"] == files["workers/gpu-_pool"] == service
    )
    assert files["redis"] == [*service, "users.acl"]
    assert files["operator"] == ["ca.key", "redis.password"]
    assert files["clients"] == ["ca.pem", "client.key", "client.pem"]
    holders = [
        "router",
        "predictor",
        "planner",
        "workers/w0",
        "redis",
        "operator",
    ]  # and workers/gpu-_pool below
    passwords = {f: (out / f / "redis.password").read_text() for f in holders}
    passwords["workers/gpu-_pool"] = (out / "workers" / "gpu-_pool" / "redis.password").read_text()
    assert len(set(passwords.values())) == 7  # a Redis user per role and worker identity: none shared
    acl = (out / "redis" / "users.acl").read_text()
    assert "user worker.w0 on " in acl and "%W~interfleet:*:worker:w0 " in acl  # w0 writes w0's state only
    assert "user worker.gpu-_pool on " in acl and "%W~interfleet:*:worker:gpu-* " in acl
    assert not any(p in (out / "redis" / "users.acl").read_text() for p in passwords.values())


def test_a_ready_file_holding_the_redis_password_is_owner_only(tmp_path, open_umask):
    path = tmp_path / "up.ready.json"
    write_ready_file(path, redis_url="redis://:secret@127.0.0.1:1/0")
    write_ready_file(path, redis_url="redis://:secret@127.0.0.1:2/0")  # rewritten in place, still private
    assert mode(path) == 0o600 and "127.0.0.1:2" in path.read_text()


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER"])
def test_the_bearer_scheme_is_case_insensitive(tmp_path, scheme):
    auth = TokenAuth(load_tokens(["s3cret"], None))
    assert auth.scope_of(f"{scheme} s3cret") == "infer"
    assert auth.scope_of(f"{scheme} wrong") is None
    assert (
        auth.scope_of("Basic s3cret") is None
        and auth.scope_of(f"{scheme} ") is None
        and auth.scope_of(None) is None
    )
