"""The router's fleet view against a real Redis that restarts empty, loses a worker, or sees one leave."""

import logging

import pytest
import redis.asyncio as aioredis

from fleet.embedded_redis import EmbeddedRedis
from interfleet.proto import fleet_pb2
from interfleet.security.signing import Sealer
from interfleet.telemetry.keys import FleetKeys
from router.fleet_view import FleetView
from router.fleet_watcher import FleetWatcher


def state(worker_id: str, heartbeat_at: float, ready: bool = True) -> fleet_pb2.WorkerState:
    worker = fleet_pb2.WorkerState(
        worker_id=worker_id, address=f"{worker_id}:1", heartbeat_at=heartbeat_at, ready=ready
    )
    worker.models.add(name="m")
    return worker


@pytest.fixture
async def redis_client(tmp_path):
    store = EmbeddedRedis(tmp_path / "redis")
    store.start()
    client = aioredis.from_url(store.url)
    yield client
    await client.aclose()
    store.stop()


async def heartbeat(client, keys: FleetKeys, worker: fleet_pb2.WorkerState) -> None:
    await client.set(keys.worker_state(worker.worker_id), worker.SerializeToString(), px=60_000)
    await client.zadd(keys.workers, {worker.worker_id: worker.heartbeat_at})


async def test_an_emptied_redis_keeps_live_workers_until_they_heartbeat_again(redis_client, clock):
    keys, views = FleetKeys("hold"), []
    watcher = FleetWatcher(redis_client, keys, views.append, hold_s=3.0, clock=clock)
    await heartbeat(redis_client, keys, state("a", 1.0))
    await heartbeat(redis_client, keys, state("b", 1.0))
    assert await watcher.refresh_once() and set(views[-1].workers) == {"a", "b"}

    # Redis restarted with nothing in it (FLUSHALL itself is switched off in the embedded server).
    await redis_client.delete(*[key async for key in redis_client.scan_iter()])
    clock.now = 2.0
    await watcher.refresh_once()
    assert set(views[-1].workers) == {"a", "b"}  # still routed to
    assert views[-1].by_model == {"m": ("a", "b")}

    await heartbeat(redis_client, keys, state("a", 3.0))  # a heartbeats into the new Redis; b is dead
    clock.now = 2.9
    await watcher.refresh_once()
    assert set(views[-1].workers) == {"a", "b"}
    clock.now = 3.1  # b's last heartbeat was seen at 0.0: 3 s are up
    await watcher.refresh_once()
    assert set(views[-1].workers) == {"a"}


async def test_a_stale_heartbeat_does_not_keep_a_worker(redis_client, clock):
    """A state key that lives on without new heartbeats ages out by the same clock."""
    keys, views = FleetKeys("stale"), []
    watcher = FleetWatcher(redis_client, keys, views.append, hold_s=3.0, clock=clock)
    await heartbeat(redis_client, keys, state("a", 1.0))
    await watcher.refresh_once()
    clock.now = 2.5
    await watcher.refresh_once()  # same heartbeat as before: not fresh
    await redis_client.delete(keys.worker_state("a"))  # its TTL ran out
    clock.now = 3.5
    await watcher.refresh_once()
    assert views[-1].workers == {}


async def test_a_worker_that_leaves_is_dropped_at_once(redis_client, clock):
    keys, views = FleetKeys("leave"), []
    watcher = FleetWatcher(redis_client, keys, views.append, hold_s=3.0, clock=clock)
    await heartbeat(redis_client, keys, state("a", 1.0))
    await watcher.refresh_once()
    await heartbeat(redis_client, keys, state("a", 1.5, ready=False))  # its last word on stopping
    clock.now = 0.1
    await watcher.refresh_once()
    assert views[-1] == FleetView.of([])


async def test_with_a_fleet_ca_only_signed_or_allowed_workers_are_routed_to(
    redis_client, clock, caplog, identities
):
    keys, views = FleetKeys("trust"), []
    fleet, forged = identities.sealer("worker/*"), identities.foreign.sealer("worker/*")
    other_worker = identities.sealer("worker/w1")  # a worker of this fleet, speaking for another
    watcher = FleetWatcher(
        redis_client,
        keys,
        views.append,
        sealer=fleet,
        allowed=frozenset({"listed:1"}),
        wall_clock=lambda: 1.0,  # the heartbeats below were signed just now
    )

    async def register(worker: fleet_pb2.WorkerState, sealer: Sealer, as_id: str | None = None) -> None:
        worker_id = as_id or worker.worker_id
        blob = sealer.seal(f"worker-state:{worker.worker_id}", worker.SerializeToString())
        await redis_client.set(keys.worker_state(worker_id), blob)
        await redis_client.zadd(keys.workers, {worker_id: 1.0})

    await register(state("signed", 1.0), fleet)
    await register(state("unsigned", 1.0), Sealer())
    await register(state("forged", 1.0), forged)
    await register(state("w0", 1.0), other_worker)
    await register(state("listed", 1.0), Sealer())  # unsigned, but its address is allowed
    await register(state("signed", 1.0), fleet, as_id="replayed")  # a valid seal, copied under another id
    await redis_client.set(keys.worker_state("garbage"), b"\xff\x00 not a state")
    await redis_client.zadd(keys.workers, {"garbage": 1.0})
    with caplog.at_level(logging.WARNING):
        await watcher.refresh_once()
        await watcher.refresh_once()
    assert set(views[-1].workers) == {"signed", "listed"}
    # Each refused once: the second pass, within RECHECK_REFUSED_S, does not read them again.
    assert watcher.refused == {
        ("worker", "unsigned"): 1,
        ("worker", "unknown_signer"): 1,
        ("worker", "not_permitted"): 1,
        ("worker", "bad_signature"): 1,
        ("worker", "unparsable"): 1,
    }
    assert caplog.text.count("refusing worker unsigned: not signed by a fleet service") == 1  # logged once
    assert "refusing worker w0: signed by a service that may not speak for this worker" in caplog.text


async def test_an_allow_list_alone_admits_only_its_addresses(redis_client, clock):
    keys, views = FleetKeys("allow"), []
    watcher = FleetWatcher(redis_client, keys, views.append, allowed=frozenset({"a:1"}))
    await heartbeat(redis_client, keys, state("a", 1.0))
    await heartbeat(redis_client, keys, state("b", 1.0))
    await watcher.refresh_once()
    assert set(views[-1].workers) == {"a"} and watcher.refused == {("worker", "not_allowed"): 1}
