"""Publishing, validating and loading degradation models through a real redis-server."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
import redis.asyncio as aioredis
from predictor_data import synthetic_rows

from fleet.embedded_redis import EmbeddedRedis
from interfleet.security.signing import Sealer
from interfleet.telemetry.keys import FleetKeys
from predictor.evaluate import Prepared, fit
from predictor.features import FeatureBuilder, placement_of
from predictor.registry import ModelWatcher, publish, validate_candidate

pytestmark = pytest.mark.fleet


@pytest.fixture
def store(tmp_path):
    server = EmbeddedRedis(tmp_path / "redis")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def trained(repository):
    rows = synthetic_rows(repository, n=120)
    builder = FeatureBuilder(repository)
    train, holdout = rows[:90], rows[90:]
    model = fit(Prepared(train, builder), train, {"rows": len(train)})
    features = builder.matrix([placement_of(r) for r in holdout])
    return model, features, holdout


async def test_publish_validate_load_cycle_and_a_corrupt_model_is_refused(store, trained, caplog):
    model, features, holdout = trained
    keys = FleetKeys("registry-test")
    client = aioredis.from_url(store.url)
    clock = [1000.0]
    watcher = ModelWatcher(client, keys, max_age_s=60, wall_clock=lambda: clock[0])
    assert await watcher.refresh_once() == "missing"

    validation = validate_candidate(
        model, None, features, [r["solo_ms"] for r in holdout], [r["mean_ms"] for r in holdout]
    )
    assert validation["passed"] and validation["candidate_mape"] < 0.2
    assert await publish(client, keys, model, validation, wall_clock=lambda: clock[0]) == 1
    assert await watcher.refresh_once() == "ok" and watcher.version == 1
    np.testing.assert_allclose(watcher.model.predict(features), model.predict(features))

    # A corrupt model under a newer version: refused with a logged reason, v1 stays in use.
    await client.set(keys.predictor_model, b'{"version": 2, "model": "{truncated')
    await client.set(keys.predictor_version, 2)
    with caplog.at_level(logging.ERROR):
        assert await watcher.refresh_once() == "ok"
    assert watcher.version == 1 and "refused predictor model v2" in caplog.text
    # A model built for other features is refused the same way.
    incompatible = model.dumps().replace('"features": [', '"features": ["gpu_sm_count", ', 1)
    await client.set(
        keys.predictor_model, json.dumps({"version": 3, "published_at": 1000, "model": incompatible})
    )
    await client.set(keys.predictor_version, 3)
    await watcher.refresh_once()
    assert watcher.version == 1 and "features" in watcher.last_error

    # The next valid publish is loaded without restarting anything; age makes it stale.
    assert await publish(client, keys, model, validation, wall_clock=lambda: clock[0]) == 4
    assert await watcher.refresh_once() == "ok" and watcher.version == 4
    clock[0] += 61
    assert watcher.status == "stale"
    await client.aclose()


def test_a_worse_candidate_fails_validation(trained):
    model, features, holdout = trained
    solo = [r["solo_ms"] for r in holdout]
    measured = [r["mean_ms"] for r in holdout]
    good = validate_candidate(model, model, features, solo, measured)
    assert good["passed"] and good["current_mape"] == pytest.approx(good["candidate_mape"])

    class Inflated:
        def predict(self, x):
            return model.predict(x) * 2.0

    bad = validate_candidate(Inflated(), model, features, solo, measured)
    assert not bad["passed"] and bad["candidate_mape"] > bad["current_mape"]


async def test_with_a_fleet_ca_only_the_predictors_model_of_bounded_size_is_loaded(
    store, trained, caplog, identities
):
    model, _, _ = trained
    keys = FleetKeys("signed-models")
    client = aioredis.from_url(store.url)
    fleet = identities.sealer("predictor")
    watcher = ModelWatcher(client, keys, sealer=fleet, max_bytes=3_000_000)
    assert await publish(client, keys, model, {"source": "test"}, sealer=fleet) == 1
    assert await watcher.refresh_once() == "ok" and watcher.version == 1

    # Someone with write access to Redis publishes a model: unsigned, signed by another fleet's CA,
    # and signed with a worker's key (a stolen one: valid, but not the predictor's).
    assert await publish(client, keys, model, {"source": "attacker"}) == 2
    with caplog.at_level(logging.ERROR):
        await watcher.refresh_once()
    assert watcher.version == 1 and "v2: predictor-model: not signed by a fleet service" in caplog.text
    assert (
        await publish(
            client, keys, model, {"source": "attacker"}, sealer=identities.foreign.sealer("predictor")
        )
        == 3
    )
    await watcher.refresh_once()
    assert watcher.version == 1 and "the fleet CA did not issue" in watcher.last_error
    stolen = Sealer(identities.signer("worker/w0"))
    assert await publish(client, keys, model, {"source": "a worker"}, sealer=stolen) == 4
    await watcher.refresh_once()
    assert watcher.version == 1 and "worker/w0 may not sign it" in watcher.last_error
    # An oversized one is refused before it is fetched.
    await client.set(keys.predictor_model, fleet.seal("predictor-model", b" " * 3_000_001))
    await client.set(keys.predictor_version, 5)
    await watcher.refresh_once()
    assert watcher.version == 1 and "over the limit" in watcher.last_error
    assert watcher.refused == {
        ("predictor_model", "unsigned"): 1,
        ("predictor_model", "unknown_signer"): 1,
        ("predictor_model", "not_permitted"): 1,
        ("predictor_model", "too_large"): 1,
    }
    assert await publish(client, keys, model, {"source": "test"}, sealer=fleet) == 6
    assert await watcher.refresh_once() == "ok" and watcher.version == 6
    await client.aclose()


async def test_an_old_signed_model_written_back_is_a_rollback_refused_once(store, trained, identities):
    model = trained[0]
    keys, fleet = FleetKeys("rollback"), identities.sealer("predictor")
    client = aioredis.from_url(store.url)
    watcher = ModelWatcher(client, keys, sealer=fleet)
    validation = {"passed": True}
    await publish(client, keys, model, validation, sealer=fleet)
    first = await client.get(keys.predictor_model)  # v1, validly sealed: what an intruder copies aside
    await publish(client, keys, model, validation, sealer=fleet)
    assert await watcher.refresh_once() == "ok" and watcher.version == 2
    # v1's blob written back, the unsigned version key bumped so that readers look again.
    await client.set(keys.predictor_model, first)
    await client.set(keys.predictor_version, 9)
    for _ in range(5):
        assert await watcher.refresh_once() == "ok"
    assert watcher.version == 2 and "older than v2 in use" in watcher.last_error
    assert watcher.refused["predictor_model", "rollback"] == 1  # read once, not on every refresh
    await client.aclose()
