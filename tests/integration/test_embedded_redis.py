"""The embedded server as `make run` starts it (Valkey, Redis-compatible): from a relative run
folder, with its password, its memory bound and the commands an intruder would reach for
switched off."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from fleet.embedded_redis import DISABLED_COMMANDS, EmbeddedRedis

pytestmark = pytest.mark.fleet


@pytest.fixture
def embedded(tmp_path, monkeypatch):
    # `make run` gives run/redis: the server changes into --dir before it opens its log file.
    monkeypatch.chdir(tmp_path)
    store = EmbeddedRedis(Path("run") / "redis")
    store.start()
    yield store, tmp_path
    store.stop()


def test_it_starts_from_a_relative_run_dir(embedded):
    store, root = embedded
    assert redis.Redis.from_url(store.url).ping()
    assert (root / "run" / "redis" / "redis.log").exists()


def test_even_with_the_password_the_server_cannot_be_rewritten_wiped_or_scripted(embedded):
    store, _ = embedded
    client = redis.Redis.from_url(store.url)
    client.set("fleet:key", b"value")
    for command in (
        ("CONFIG", "SET", "dir", "/tmp"),
        ("FLUSHALL",),
        ("EVAL", "return 1", "0"),
        ("KEYS", "*"),
    ):
        with pytest.raises(redis.ResponseError, match="unknown command"):
            client.execute_command(*command)
    assert client.get("fleet:key") == b"value"  # nothing was wiped
    assert {"CONFIG", "FLUSHALL", "EVAL", "FUNCTION", "SAVE", "MODULE"} <= set(DISABLED_COMMANDS)
    assert client.info("server")["server_name"] == "valkey"  # a maintained line, not redis 6.2
    info = client.info("memory")
    assert info["maxmemory"] == 256 * 2**20 and info["maxmemory_policy"] == "noeviction"


def test_without_the_password_nothing_is_readable(embedded):
    store, _ = embedded
    anonymous = redis.Redis(host="127.0.0.1", port=store.port)
    with pytest.raises(redis.AuthenticationError):
        anonymous.get("fleet:key")
