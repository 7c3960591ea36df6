"""Each Redis role tried as an intruder holding its password would, on the embedded server (Valkey,
as `interfleet up` starts it): what the role does works, everything else is refused.

Once, any holder of the one password could read every key, write a file (CONFIG SET dir + SAVE),
run scripts or wipe the fleet; a worker's password now writes telemetry and nothing more.
"""

from __future__ import annotations

import pytest
import redis

from fleet.embedded_redis import EmbeddedRedis
from interfleet.telemetry.keys import FleetKeys

pytestmark = pytest.mark.fleet
KEYS = FleetKeys("roles")
DANGEROUS = [("CONFIG", "SET", "dir", "/tmp"), ("EVAL", "return 1", "0"), ("FLUSHALL",), ("KEYS", "*")]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    store = EmbeddedRedis(tmp_path_factory.mktemp("roles"), workers=("w0", "w9"))
    store.start()
    admin = redis.Redis.from_url(store.url)
    admin.set(KEYS.predictor_model, b"model")
    admin.set(KEYS.worker_state("w9"), b"state")
    yield store
    store.stop()


def as_role(server: EmbeddedRedis, user: str) -> redis.Redis:
    return redis.Redis.from_url(server.url_for(user))


def refused(call) -> bool:
    try:
        call()
    except redis.exceptions.NoPermissionError:
        return True
    except redis.ResponseError as exc:  # the dangerous commands are also switched off outright
        return "unknown command" in str(exc)
    return False


def test_a_worker_writes_its_own_telemetry_and_reads_nothing(server):
    worker = as_role(server, "worker.w0")  # as `interfleet up` hands worker w0 its own user
    assert worker.set(KEYS.worker_state("w0"), b"state", px=5_000)
    assert refused(lambda: worker.set(KEYS.worker_state("w9"), b"junk over w9's state"))  # not another's
    assert worker.zadd(KEYS.workers, {"w0": 1.0}) == 1
    assert worker.xadd(KEYS.batches, {"record": b"r"}, maxlen=100, approximate=True)
    assert worker.hset(KEYS.identities, "kid", b"certificate") == 1
    assert refused(lambda: worker.get(KEYS.worker_state("w9")))  # no reading other workers' states
    assert refused(lambda: worker.mget([KEYS.predictor_model]))
    assert refused(lambda: worker.set(KEYS.predictor_model, b"a model of mine"))  # no publishing
    assert refused(lambda: worker.hset(KEYS.interference, "w9", b"a mark"))  # no marking
    assert refused(lambda: worker.delete(KEYS.workers))
    for command in DANGEROUS:
        assert refused(lambda command=command: worker.execute_command(*command)), command


def test_a_router_reads_the_fleet_and_writes_only_marks(server):
    router = as_role(server, "router")
    assert router.mget([KEYS.worker_state("w9")]) == [b"state"]
    assert router.get(KEYS.predictor_model) == b"model"
    assert router.hset(KEYS.interference, "w9", b"a mark") == 1
    assert refused(lambda: router.set(KEYS.predictor_model, b"a model of mine"))
    assert refused(lambda: router.set(KEYS.worker_state("w9"), b"a forged state"))
    assert refused(lambda: router.xadd(KEYS.batches, {"record": b"forged"}))
    for command in DANGEROUS:
        assert refused(lambda command=command: router.execute_command(*command)), command


def test_the_predictor_publishes_models_and_registers_no_worker(server):
    predictor = as_role(server, "predictor")
    with predictor.pipeline(transaction=True) as pipe:  # how `publish` writes: WATCH, MULTI, EXEC
        pipe.watch(KEYS.predictor_version)
        pipe.multi()
        pipe.set(KEYS.predictor_model, b"model v2")
        pipe.set(KEYS.predictor_version, 2)
        pipe.execute()
    assert predictor.xread({KEYS.batches: "0"}, count=1)
    assert refused(lambda: predictor.set(KEYS.worker_state("w9"), b"a forged state"))
    assert refused(lambda: predictor.zadd(KEYS.workers, {"rogue": 1.0}))
    for command in DANGEROUS:
        assert refused(lambda command=command: predictor.execute_command(*command)), command


def test_no_role_and_no_anonymous_caller_rewrites_the_server(server):
    admin = redis.Redis.from_url(server.url)
    for command in DANGEROUS:
        assert refused(lambda command=command: admin.execute_command(*command)), command
    assert admin.get(KEYS.predictor_model)  # nothing was wiped
    probe = as_role(server, "probe")
    assert probe.ping() and refused(lambda: probe.get(KEYS.predictor_model))
    with pytest.raises((redis.AuthenticationError, redis.ResponseError)):
        redis.Redis(host="127.0.0.1", port=server.port).get(KEYS.predictor_model)
