"""A secured fleet, tried as a client and as an attacker would: real TLS, tokens and signatures.

One fleet runs with everything on: mTLS on the router's client port, TLS with client
certificates on the hop to the workers and between the router, the planner and the workers,
bearer tokens, an identity per service (each worker its own certificate, whose key signs what it
writes to Redis) and the embedded Redis's password.
"""

from __future__ import annotations

import asyncio
import collections
import json
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import grpc
import numpy as np
import pytest
import redis
import redis.asyncio as aioredis
import tritonclient.grpc as tc
from fleet_harness import Fleet, wait_until
from tritonclient.utils import InferenceServerException

from interfleet.proto import fleet_pb2, fleet_pb2_grpc
from interfleet.security.certs import make_fleet_credentials
from interfleet.security.signing import RecordSigner, Sealer, worker_state
from interfleet.telemetry.keys import FleetKeys
from predictor.model import DegradationModel
from predictor.registry import publish

pytestmark = pytest.mark.fleet
MODEL = "mlp"


@pytest.fixture(scope="module")
def secured(repository, tmp_path_factory):
    root = tmp_path_factory.mktemp("secured")
    certs = root / "certs"
    make_fleet_credentials(certs, [], workers=["w0", "w1"])
    yield from secured_fleet(root, certs, repository)


def secured_fleet(root, certs, repository, workers=("w0", "w1"), extra_router=None):
    """A fleet with everything on, each worker under its own identity; yields (fleet, certs, tokens)."""
    tokens = dict(
        reversed(line.split()) for line in (certs / "router" / "tokens.txt").read_text().splitlines()
    )
    fleet = Fleet(
        root,
        repository,
        [
            {
                "worker_id": w,
                "models": [MODEL],
                "tls_cert": str(certs / "workers" / w / "cert.pem"),
                "tls_key": str(certs / "workers" / w / "key.pem"),
                "tls_client_ca": str(certs / "ca.pem"),  # workers require the router's identity (mTLS)
            }
            for w in workers
        ],
        router={
            "tls_cert": str(certs / "router" / "cert.pem"),
            "tls_key": str(certs / "router" / "key.pem"),
            "tls_client_ca": str(certs / "ca.pem"),
            "tls_ca": str(certs / "ca.pem"),
            "auth_tokens_file": str(certs / "router" / "tokens.txt"),
            **(extra_router or {}),
        },
        shared={
            "fleet_ca": str(certs / "ca.pem"),
            "planner": {
                "port": 0,
                "metrics_port": -1,
                "replan": False,
                "replicas": len(workers),
                "drain_s": 0.2,
                "tls_cert": str(certs / "planner" / "cert.pem"),
                "tls_key": str(certs / "planner" / "key.pem"),
                "tls_client_ca": str(certs / "ca.pem"),
                "tls_ca": str(certs / "ca.pem"),
            },
        },
    )
    fleet.start(timeout_s=90)
    yield fleet, certs, tokens
    assert fleet.stop() == 0, fleet.log.read_text()[-3000:]


def client(fleet, certs, with_client_cert=True) -> tc.InferenceServerClient:
    extra = (
        {
            "private_key": str(certs / "clients" / "client.key"),
            "certificate_chain": str(certs / "clients" / "client.pem"),
        }
        if with_client_cert
        else {}
    )
    return tc.InferenceServerClient(fleet.address, ssl=True, root_certificates=str(certs / "ca.pem"), **extra)


def infer(triton: tc.InferenceServerClient, token: str | None):
    data = np.random.default_rng(0).standard_normal((1, 256)).astype(np.float32)
    tensor = tc.InferInput("input", list(data.shape), "FP32")
    tensor.set_data_from_numpy(data)
    headers = {"authorization": f"Bearer {token}"} if token else None
    return triton.infer(MODEL, [tensor], headers=headers, client_timeout=10)


def health_probe(address: str, certs) -> subprocess.CompletedProcess:
    """`interfleet health` against `address` over TLS, presenting the client certificate."""
    tls = ["--tls-ca", str(certs / "ca.pem"), "--tls-cert", str(certs / "clients" / "client.pem")]
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "fleet",
            "health",
            "--address",
            address,
            *tls,
            "--tls-key",
            str(certs / "clients" / "client.key"),
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )


def status_of(call) -> str:
    with pytest.raises(InferenceServerException) as caught:
        call()
    return f"{caught.value.status()}: {caught.value.message()}"


def test_a_client_with_certificate_and_token_is_served(secured):
    fleet, certs, tokens = secured
    triton = client(fleet, certs)
    served = {
        infer(triton, tokens["infer"]).get_response().parameters["worker_id"].string_param for _ in range(20)
    }
    assert served == {"w0", "w1"}  # both workers answer over the TLS hop


def test_tokens_missing_wrong_or_of_the_wrong_scope_are_refused(secured):
    fleet, certs, tokens = secured
    triton = client(fleet, certs)
    assert status_of(lambda: infer(triton, None)).startswith(
        "StatusCode.UNAUTHENTICATED: missing 'authorization"
    )
    assert (
        status_of(lambda: infer(triton, tokens["infer"][:-1] + "x"))
        == "StatusCode.UNAUTHENTICATED: invalid token"
    )
    assert status_of(lambda: infer(triton, tokens["read"])).startswith(
        "StatusCode.PERMISSION_DENIED: a 'read' token may not call ModelInfer"
    )
    read = {"authorization": f"Bearer {tokens['read']}"}
    assert triton.get_model_metadata(MODEL, headers=read).name == MODEL  # what a read token may do
    # Nor may a read token change what the fleet serves.
    assert status_of(lambda: triton.unload_model(MODEL, headers=read)).startswith(
        "StatusCode.PERMISSION_DENIED: a 'read' token may not call RepositoryModelUnload"
    )


def test_a_client_without_tls_or_without_a_certificate_is_refused(secured):
    fleet, certs, tokens = secured
    plaintext = tc.InferenceServerClient(fleet.address)
    assert "UNAVAILABLE" in status_of(lambda: plaintext.is_server_live(client_timeout=5))
    anonymous = client(fleet, certs, with_client_cert=False)
    assert "UNAVAILABLE" in status_of(lambda: anonymous.is_server_live(client_timeout=5))
    # Nor can anyone but a router with the fleet's certificate reach a worker directly.
    worker = tc.InferenceServerClient(
        fleet.worker("w0")["address"], ssl=True, root_certificates=str(certs / "ca.pem")
    )
    assert "UNAVAILABLE" in status_of(lambda: worker.is_server_live(client_timeout=5))


def test_health_is_open_to_a_tls_probe_without_a_token(secured):
    fleet, certs, _ = secured
    probe = health_probe(fleet.address, certs)
    assert probe.returncode == 0 and "SERVING" in probe.stdout, probe.stderr


def test_redis_needs_the_password_and_a_forged_worker_is_never_routed_to(secured):
    fleet, certs, tokens = secured
    anonymous = redis.Redis.from_url(fleet.redis_url.replace(fleet.redis_url.split("@")[0] + "@", "redis://"))
    with pytest.raises(redis.AuthenticationError):
        anonymous.get("anything")

    # An attacker who has the Redis password registers a worker of their own for the model.
    store = redis.Redis.from_url(fleet.redis_url)
    keys = FleetKeys("test")
    rogue = fleet_pb2.WorkerState(worker_id="rogue", address="127.0.0.1:9", ready=True, heartbeat_at=1e10)
    rogue.models.add(name=MODEL, version="1")
    store.set(keys.worker_state("rogue"), rogue.SerializeToString(), px=60_000)
    store.zadd(keys.workers, {"rogue": 1e10})
    refused = 0.0
    deadline = time.monotonic() + 10
    while not refused and time.monotonic() < deadline:  # the router's next reads of Redis
        metrics = (
            urllib.request.urlopen(f"http://{fleet.router()['metrics']}/metrics", timeout=5).read().decode()
        )
        refused = sum(
            float(line.split()[-1])
            for line in metrics.splitlines()
            if line.startswith('interfleet_router_refused_records_total{kind="worker",reason="unsigned"}')
        )
        time.sleep(0.1)
    assert refused > 0
    triton = client(fleet, certs)
    served = {
        infer(triton, tokens["infer"]).get_response().parameters["worker_id"].string_param for _ in range(30)
    }
    assert served == {"w0", "w1"}
    assert "refusing worker rogue: not signed by a fleet service" in fleet.log.read_text()


def test_a_stream_without_a_token_is_refused_before_any_request_runs(secured):
    fleet, certs, _ = secured
    credentials = grpc.ssl_channel_credentials(
        (certs / "ca.pem").read_bytes(),
        (certs / "clients" / "client.key").read_bytes(),
        (certs / "clients" / "client.pem").read_bytes(),
    )
    with grpc.secure_channel(fleet.address, credentials) as channel:
        stream = channel.stream_stream("/inference.GRPCInferenceService/ModelStreamInfer")
        with pytest.raises(grpc.RpcError) as caught:
            list(stream(iter([b""]), timeout=10))
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED


def https(fleet, certs, path: str, token: str | None = None, body: bytes | None = None, client_cert=True):
    """(status, body) of one HTTPS request to the router's REST port."""
    context = ssl.create_default_context(cafile=str(certs / "ca.pem"))
    if client_cert:
        context.load_cert_chain(str(certs / "clients" / "client.pem"), str(certs / "clients" / "client.key"))
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    request = urllib.request.Request(f"https://{fleet.http_address}{path}", data=body, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10, context=context) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def test_the_rest_port_has_the_same_tls_tokens_and_scopes(secured):
    fleet, certs, tokens = secured
    body = json.dumps(
        {"inputs": [{"name": "input", "shape": [1, 256], "datatype": "FP32", "data": [0.0] * 256}]}
    ).encode()
    infer_path = f"/v2/models/{MODEL}/infer"
    status, answer = https(fleet, certs, infer_path, tokens["infer"], body)
    assert status == 200 and json.loads(answer)["parameters"]["worker_id"] in {"w0", "w1"}
    assert https(fleet, certs, infer_path, None, body)[0] == 401
    assert https(fleet, certs, infer_path, tokens["infer"][:-1] + "x", body)[0] == 401
    status, answer = https(fleet, certs, infer_path, tokens["read"], body)
    assert status == 403 and "may not run inference" in json.loads(answer)["error"]
    assert https(fleet, certs, f"/v2/models/{MODEL}", tokens["read"])[0] == 200
    status, answer = https(fleet, certs, f"/v2/repository/models/{MODEL}/unload", tokens["read"], b"{}")
    assert status == 403 and "change the repository" in json.loads(answer)["error"]
    assert https(fleet, certs, "/v2/health/ready")[0] == 200  # probes need no token
    with pytest.raises((urllib.error.URLError, ConnectionError)):  # no client certificate: refused
        https(fleet, certs, "/v2/health/ready", client_cert=False)
    with pytest.raises((urllib.error.URLError, ConnectionError)):  # and plaintext is not served
        urllib.request.urlopen(f"http://{fleet.http_address}/v2/health/ready", timeout=5)


def test_the_load_generator_reads_its_token_from_a_file(secured, tmp_path):
    fleet, certs, tokens = secured
    token_file = tmp_path / "token"
    token_file.write_text(tokens["infer"] + "\n")
    token_file.chmod(0o600)
    tls = [
        "--tls-ca",
        str(certs / "ca.pem"),
        "--tls-cert",
        str(certs / "clients" / "client.pem"),
        "--tls-key",
        str(certs / "clients" / "client.key"),
    ]
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "fleet",
            "loadgen",
            "--target",
            fleet.address,
            *tls,
            "--token-file",
            str(token_file),
            "--trace",
            "poisson:rate=20",
            "--models",
            MODEL,
            "--duration",
            "1",
            "--out",
            str(tmp_path / "out"),
            "--no-progress",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    rows = (tmp_path / "out" / "requests.csv").read_text().splitlines()[1:]
    assert rows and all(",OK," in row for row in rows), rows[:3]
    assert tokens["infer"] not in done.stdout + done.stderr


def test_a_worker_admits_router_identities_only(secured):
    fleet, certs, _ = secured
    worker = fleet.worker("w0")["address"]

    def direct(cert: str, key: str) -> tc.InferenceServerClient:
        return tc.InferenceServerClient(
            worker,
            ssl=True,
            root_certificates=str(certs / "ca.pem"),
            private_key=str(certs / key),
            certificate_chain=str(certs / cert),
        )

    # Every certificate below is signed by the fleet's CA, so TLS admits it; the worker does not.
    for cert, key, name in (
        ("clients/client.pem", "clients/client.key", "interfleet client"),
        ("workers/w1/cert.pem", "workers/w1/key.pem", "worker/w1"),
        ("predictor/cert.pem", "predictor/key.pem", "predictor/predictor"),
    ):
        caller = direct(cert, key)
        refused = status_of(lambda caller=caller: caller.get_model_metadata(MODEL, client_timeout=5))
        assert refused.startswith("StatusCode.PERMISSION_DENIED: only router/* may call a worker"), refused
        assert f"'{name}'" in refused
    as_router = direct("router/cert.pem", "router/key.pem")
    assert as_router.get_model_metadata(MODEL, client_timeout=5).name == MODEL
    probe = health_probe(worker, certs)  # probes stay open to any certificate the fleet's CA signed
    assert probe.returncode == 0 and "SERVING" in probe.stdout, probe.stdout + probe.stderr


def refused_count(fleet, kind: str, reason: str) -> float:
    metrics = urllib.request.urlopen(f"http://{fleet.router()['metrics']}/metrics", timeout=5).read().decode()
    prefix = f'interfleet_router_refused_records_total{{kind="{kind}",reason="{reason}"}}'
    return sum(float(line.split()[-1]) for line in metrics.splitlines() if line.startswith(prefix))


def test_a_stolen_worker_key_cannot_register_another_worker_or_publish_a_model(secured):
    """With w1's certificate and key (and the Redis operator's password), an attacker signs a
    registration for a worker id of their own and a predictor model: both are refused, counted."""
    fleet, certs, tokens = secured
    stolen = Sealer(
        RecordSigner(str(certs / "workers" / "w1" / "cert.pem"), str(certs / "workers" / "w1" / "key.pem"))
    )
    keys = FleetKeys("test")
    store = redis.Redis.from_url(fleet.redis_url)
    store.hset(keys.identities, stolen.signer.kid, stolen.signer.certificate_der)  # published, as w1 does
    rogue = fleet_pb2.WorkerState(worker_id="w2", address="127.0.0.1:9", ready=True, heartbeat_at=time.time())
    rogue.models.add(name=MODEL, version="1")
    store.set(keys.worker_state("w2"), stolen.seal(worker_state("w2"), rogue.SerializeToString()), px=60_000)
    store.zadd(keys.workers, {"w2": time.time()})
    assert wait_until(lambda: refused_count(fleet, "worker", "not_permitted") > 0, 10)

    async def publish_as_worker() -> None:
        client = aioredis.from_url(fleet.redis_url)
        model = DegradationModel.loads(
            (Path(__file__).parents[2] / "predictor" / "models" / "reference.json").read_text()
        )
        await publish(client, keys, model, {"source": "a stolen worker key"}, sealer=stolen)
        await client.aclose()

    asyncio.run(publish_as_worker())
    assert wait_until(lambda: refused_count(fleet, "predictor_model", "not_permitted") > 0, 10)
    triton = client(fleet, certs)
    replies = {
        infer(triton, tokens["infer"]).get_response().parameters["worker_id"].string_param for _ in range(30)
    }
    assert replies == {"w0", "w1"}
    assert (
        "refusing worker w2: signed by a service that may not speak for this worker" in fleet.log.read_text()
    )
    store.delete(keys.worker_state("w2"))


def test_a_flood_of_junk_registrations_is_counted_not_logged_line_by_line_and_keeps_no_worker_out(secured):
    fleet, certs, tokens = secured
    keys = FleetKeys("test")
    store = redis.Redis.from_url(fleet.redis_url)
    junk = fleet_pb2.WorkerState(address="127.0.0.1:9", ready=True).SerializeToString()
    ids = [f"junk{i}" for i in range(20_000)]
    with store.pipeline(transaction=False) as pipe:
        for worker_id in ids:
            pipe.set(keys.worker_state(worker_id), junk, px=60_000)
        pipe.zadd(keys.workers, {worker_id: time.time() + 3600 for worker_id in ids})  # newest of all
        pipe.execute()
    try:
        # The newest 512 a pass, each refused id read again only after RECHECK_REFUSED_S.
        assert wait_until(lambda: refused_count(fleet, "worker", "unsigned") >= 512, 15)
        triton = client(fleet, certs)
        replies = {
            infer(triton, tokens["infer"]).get_response().parameters["worker_id"].string_param
            for _ in range(30)
        }
        assert replies == {"w0", "w1"}  # known workers stay in view, however full the index
        lines = [line for line in fleet.log.read_text().splitlines() if "refusing worker junk" in line]
        # REFUSAL_LINES_PER_MINUTE per reader: counted in full, logged in part, by the router and
        # by the planner (which reads the same heartbeats)
        by_service = collections.Counter(line.split()[3] for line in lines)
        assert set(by_service) <= {"router", "planner"} and max(by_service.values(), default=0) <= 20, (
            by_service
        )
    finally:
        with store.pipeline(transaction=False) as pipe:
            pipe.delete(*(keys.worker_state(i) for i in ids))
            pipe.zrem(keys.workers, *ids)
            pipe.execute()


def channel_as(address: str, certs, cert: str, key: str) -> grpc.Channel:
    credentials = grpc.ssl_channel_credentials(
        (certs / "ca.pem").read_bytes(), (certs / key).read_bytes(), (certs / cert).read_bytes()
    )
    return grpc.secure_channel(address, credentials)


def test_models_move_over_mtls_and_only_routers_may_ask_the_planner(secured):
    """The repository API through the router, the router to the planner, the planner to the
    workers: every hop mutual TLS under each service's own identity."""
    fleet, certs, tokens = secured
    triton = client(fleet, certs)
    change = {"authorization": f"Bearer {tokens['infer']}"}
    triton.unload_model(MODEL, headers=change, client_timeout=60)
    index = {m.name: m for m in triton.get_model_repository_index(headers=change).models}
    assert index[MODEL].state == "UNAVAILABLE" and index[MODEL].reason == "unloaded"
    triton.load_model(MODEL, headers=change, client_timeout=120)

    def served_by_both() -> bool:  # placed back on both (replicas: 2), once the router sees the second
        answers = (infer(triton, tokens["infer"]) for _ in range(20))
        return {a.get_response().parameters["worker_id"].string_param for a in answers} == {"w0", "w1"}

    assert wait_until(served_by_both, 15.0)

    planner = fleet.info_of("planner")["address"]
    with channel_as(planner, certs, "clients/client.pem", "clients/client.key") as channel:
        stub = fleet_pb2_grpc.PlannerControlStub(channel)
        with pytest.raises(grpc.RpcError) as refused:
            stub.Remove(fleet_pb2.RemoveRequest(model=MODEL), timeout=10)  # around the router's tokens
        assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert "only router/* may call the planner" in refused.value.details()
        moves = stub.GetPlan(fleet_pb2.GetPlanRequest(), timeout=10).moves  # reading is open
        assert {(m.action, m.outcome) for m in moves} == {("unload", "done"), ("load", "done")}
    shown = subprocess.run(
        [sys.executable, "-m", "fleet", "plan", "--show", planner, "--tls-ca", str(certs / "ca.pem"),
         "--tls-cert", str(certs / "clients/client.pem"), "--tls-key", str(certs / "clients/client.key")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert shown.returncode == 0 and '"action": "load"' in shown.stdout, shown.stderr[-2000:]


def test_the_planner_s_identity_may_move_models_on_a_worker_not_infer(secured):
    fleet, certs, _ = secured
    worker = fleet.worker("w0")["address"]
    with channel_as(worker, certs, "planner/cert.pem", "planner/key.pem") as channel:
        state = fleet_pb2_grpc.WorkerControlStub(channel).GetState(fleet_pb2.GetStateRequest(), timeout=10)
        assert state.worker_id == "w0"
    as_planner = tc.InferenceServerClient(
        worker,
        ssl=True,
        root_certificates=str(certs / "ca.pem"),
        private_key=str(certs / "planner/key.pem"),
        certificate_chain=str(certs / "planner/cert.pem"),
    )
    refused = status_of(lambda: as_planner.get_model_metadata(MODEL, client_timeout=5))
    assert refused.startswith("StatusCode.PERMISSION_DENIED: only router/* may call a worker"), refused
    with channel_as(worker, certs, "clients/client.pem", "clients/client.key") as channel:
        with pytest.raises(grpc.RpcError) as denied:  # nor may a client's certificate move models
            fleet_pb2_grpc.WorkerControlStub(channel).UnloadModel(
                fleet_pb2.UnloadModelRequest(name=MODEL), timeout=10
            )
        assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
