"""The deployment files, validated without a Docker engine or a cluster.

The compose file against the Compose Specification's JSON schema; the Dockerfile with hadolint;
the Kubernetes manifests with kubernetes-validate; and the files against the code: every
command they run is a real `interfleet` subcommand whose flags and config parse, every
environment variable names a real config field, and ports, ids and models agree everywhere.
"""

from __future__ import annotations

import importlib.resources
import json
import re
import shutil
import subprocess
import sys
import tomllib
from dataclasses import fields
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml

from fleet.cli import build_parser, chosen_command
from interfleet.zoo.architectures import ZOO
from planner.config import PlannerConfig
from planner.main import config_from as planner_config_from
from predictor.main import predictor_config_from
from predictor.service import PredictorConfig
from router.config import RouterConfig
from router.main import config_from as router_config_from
from services.worker.config import WorkerConfig
from services.worker.main import config_from as worker_config_from

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
MANIFESTS = sorted(p for p in K8S.rglob("*.yaml") if p.name not in ("kustomization.yaml", "fleet.yaml"))
# Paths inside the image -> where they come from in the repository.
IMAGE_PATHS = {
    "/etc/interfleet/": ROOT / "configs",
    "/etc/interfleet-fleet/": K8S / "base",
    "/opt/interfleet-predictor/": ROOT / "predictor",
}
DOCKERFILE_ENV = dict(re.findall(r"^\s+(INTERFLEET_\w+)=(\S+)", (ROOT / "Dockerfile").read_text(), re.M))
KNOWN_ENV = (
    {f"INTERFLEET_ROUTER_{f.name.upper()}" for f in fields(RouterConfig)}
    | {f"INTERFLEET_WORKER_{f.name.upper()}" for f in fields(WorkerConfig)}
    | {f"INTERFLEET_PREDICTOR_{f.name.upper()}" for f in fields(PredictorConfig)}
    | {f"INTERFLEET_PLANNER_{f.name.upper()}" for f in fields(PlannerConfig)}
    | {"INTERFLEET_FLEET", "INTERFLEET_HEALTH_ADDRESS", "REDIS_URL"}
    | {"INTERFLEET_PLANNER_ADDRESS"}  # the router's planner_address
    | {"INTERFLEET_HEALTH_TLS_CA", "INTERFLEET_HEALTH_TLS_CERT", "INTERFLEET_HEALTH_TLS_KEY"}  # the probe
    | {"REDIS_PASSWORD"}  # expanded into REDIS_URL by Kubernetes, as $(REDIS_PASSWORD)
    | {"REDIS_PASSWORD_FILE"}
)


def interfleet_services():
    return {name: s for name, s in COMPOSE["services"].items() if "build" in s and "entrypoint" not in s}


def k8s_containers():
    for path in MANIFESTS:
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc["kind"] == "Deployment":
                for container in doc["spec"]["template"]["spec"]["containers"]:
                    if container["image"].startswith("interfleet:"):
                        yield path, doc, container


def container_env(container) -> dict[str, str]:
    """Environment of a container; values set from pod fields and secrets get stand-ins, and
    `$(VAR)` references are expanded as Kubernetes does."""
    stand_ins = {"metadata.name": "worker-abc12", "status.podIP": "10.1.2.3"}
    env: dict[str, str] = {}
    for entry in container["env"]:
        if "value" in entry:
            env[entry["name"]] = re.sub(r"\$\((\w+)\)", lambda m: env[m.group(1)], entry["value"])
        elif "secretKeyRef" in entry["valueFrom"]:
            env[entry["name"]] = "stand-in-secret"
        else:
            env[entry["name"]] = stand_ins[entry["valueFrom"]["fieldRef"]["fieldPath"]]
    return env


def in_repository(args: list[str]) -> list[str]:
    out = []
    for arg in args:
        for image_path, local in IMAGE_PATHS.items():
            if arg.startswith(image_path):
                arg = str(local / arg[len(image_path) :])
        out.append(arg)
    return out


def service_config(args: list[str], env: dict[str, str]):
    args = in_repository(args)
    parsed = build_parser(chosen_command(args)).parse_args(args)
    full_env = {**DOCKERFILE_ENV, **env}
    build = {
        "router": router_config_from,
        "worker": worker_config_from,
        "predictor": predictor_config_from,
        "planner": planner_config_from,
    }
    config = build[parsed.command](parsed, full_env)
    for path in (getattr(config, "dataset", None), getattr(config, "initial_model", None)):
        assert path is None or Path(path).is_file(), f"{args}: {path} is not shipped in the image"
    return config


def test_compose_file_matches_the_compose_specification():
    schema = json.loads(
        importlib.resources.files("check_jsonschema.builtin_schemas.vendor")
        .joinpath("compose-spec.json")
        .read_text()
    )
    validator = jsonschema.validators.validator_for(schema)(schema)
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(COMPOSE)]
    assert not errors, errors


def test_dockerfile_passes_hadolint():
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    done = subprocess.run([hadolint, str(ROOT / "Dockerfile")], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: str(p.relative_to(K8S)))
def test_kubernetes_manifests_validate(path):
    for doc in yaml.safe_load_all(path.read_text()):
        kubernetes_validate.validate(doc, "1.37", strict=True)


def test_kustomizations_reference_files_that_exist():
    for kustomization in K8S.rglob("kustomization.yaml"):
        spec = yaml.safe_load(kustomization.read_text())
        referenced = [
            *spec.get("resources", []),
            *spec.get("components", []),
            *(f.split("=", 1)[-1] for g in spec.get("configMapGenerator", []) for f in g["files"]),
        ]
        for name in referenced:
            assert (kustomization.parent / name).exists(), f"{kustomization}: {name} does not exist"


def test_every_command_is_a_real_subcommand_whose_config_builds():
    built = 0
    for service in interfleet_services().values():
        service_config(service["command"], {k: str(v) for k, v in service.get("environment", {}).items()})
        built += 1
    for _, _, container in k8s_containers():
        service_config(container["args"], container_env(container))
        built += 1
    assert built >= 11
    assert build_parser("health").parse_args(["health"]).command == "health"  # every health check's command


def test_environment_variables_name_real_config_fields():
    names = set(DOCKERFILE_ENV)
    for service in COMPOSE["services"].values():
        names |= {n for n in service.get("environment", {}) if n.startswith(("INTERFLEET_", "REDIS_"))}
    for _, _, container in k8s_containers():
        names |= set(container_env(container))
    unknown = sorted(names - KNOWN_ENV)
    assert not unknown, f"environment variables no config reads: {unknown}"


def test_ports_ids_and_models_agree_across_compose_manifests_and_configs():
    fleet = yaml.safe_load((ROOT / "configs" / "compose.yaml").read_text())
    router_port = fleet["router"]["port"]
    assert f"127.0.0.1:{router_port}:{router_port}" in COMPOSE["services"]["router"]["ports"]  # plaintext
    assert COMPOSE["services"]["router"]["environment"]["INTERFLEET_HEALTH_ADDRESS"].endswith(
        f":{router_port}"
    )
    http_port = fleet["router"]["http_port"]
    assert f"127.0.0.1:{http_port}:{http_port}" in COMPOSE["services"]["router"]["ports"]
    exposed = next(
        line for line in (ROOT / "Dockerfile").read_text().splitlines() if line.startswith("EXPOSE")
    )
    assert {str(router_port), str(http_port)} <= set(exposed.split()[1:])
    entries = {w["worker_id"]: w for w in fleet["workers"]}
    planner_service = COMPOSE["services"]["planner"]
    planner = service_config(planner_service["command"], dict(planner_service["environment"]))
    assert COMPOSE["services"]["planner"]["environment"]["INTERFLEET_HEALTH_ADDRESS"].endswith(
        f":{planner.port}"
    )
    assert (
        COMPOSE["services"]["router"]["environment"]["INTERFLEET_PLANNER_ADDRESS"]
        == f"planner:{planner.port}"
    )
    assert (
        f"127.0.0.1:{planner.metrics_port}:{planner.metrics_port}" in COMPOSE["services"]["planner"]["ports"]
    )
    for name, service in interfleet_services().items():
        if name in ("router", "predictor", "planner"):
            continue
        config = service_config(service["command"], dict(service["environment"]))
        assert config.worker_id in entries and config.advertise_host == name, name
        assert service["environment"]["INTERFLEET_HEALTH_ADDRESS"].endswith(f":{config.port}"), name
        assert ("gpu" in service["profiles"]) == config.device.startswith("cuda"), name
    for path, _, container in k8s_containers():
        env = container_env(container)
        config = service_config(container["args"], env)
        if isinstance(config, PredictorConfig):  # serves nothing: no port, no probe
            assert "ports" not in container and "readinessProbe" not in container, path
            continue
        assert container["readinessProbe"]["exec"]["command"] == ["interfleet", "health"], path
        probe_port = int(env["INTERFLEET_HEALTH_ADDRESS"].rsplit(":", 1)[1])
        assert probe_port == config.port == container["ports"][0]["containerPort"], path
        if isinstance(config, WorkerConfig):
            assert config.fleet == yaml.safe_load((K8S / "base" / "fleet.yaml").read_text())["fleet"]
            assert ("nvidia.com/gpu" in container["resources"]["limits"]) == config.device.startswith("cuda")
        elif isinstance(config, PlannerConfig):
            assert config.port == planner.port and f"planner:{config.port}" in {
                e.get("value") for _, _, c in k8s_containers() for e in c["env"]
            }  # the routers' INTERFLEET_PLANNER_ADDRESS
        else:
            assert config.port == router_port
    models = {m for w in fleet["workers"] for m in w["models"]}
    for _, _, container in k8s_containers():
        models |= set(filter(None, container_env(container).get("INTERFLEET_WORKER_MODELS", "").split(",")))
    assert models <= set(ZOO), f"models not in the zoo: {sorted(models - set(ZOO))}"


def test_every_source_package_is_installed_by_a_plain_install():
    """The image runs `pip install .` (not editable): a top-level package that pyproject's
    package search or the Dockerfile's copies leave out is missing there."""
    included = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"][
        "include"
    ]
    roots = {pattern.rstrip("*") for pattern in included}
    packages = {init.parent.name for init in ROOT.glob("*/__init__.py")} - {"tests", "bench"}
    assert packages - roots == set(), f"packages a plain install leaves out: {sorted(packages - roots)}"
    copied = set(re.findall(r"^COPY (\S+) \1$", (ROOT / "Dockerfile").read_text(), re.M))
    assert packages - copied == set(), f"packages the image does not copy: {sorted(packages - copied)}"


def test_every_registry_image_of_the_cpu_stack_has_a_debian_stand_in():
    """What `make compose-test` builds when no registry is reachable: all the CPU profile pulls."""
    script = (ROOT / "deploy" / "images" / "build-base-images.sh").read_text()
    stand_ins = set(re.findall(r'^\s+"([^|"]+)\|', script, re.M))
    cpu_base = re.search(r"^FROM (\S+) AS base-cpu$", (ROOT / "Dockerfile").read_text(), re.M).group(1)
    pulled = {
        s["image"]
        for s in COMPOSE["services"].values()
        if "build" not in s and "dashboards" not in s.get("profiles", [])
    }
    assert stand_ins == pulled | {cpu_base}


def test_kubernetes_runs_the_fleet_secured():
    """TLS everywhere, tokens for clients, signed records, Redis over TLS with a password."""
    secured = 0
    for path, _, container in k8s_containers():
        env = container_env(container)
        config = service_config(container["args"], env)
        role = {RouterConfig: "router", WorkerConfig: "worker", PlannerConfig: "planner"}.get(
            type(config), "predictor"
        )
        assert env["REDIS_URL"].startswith(f"rediss://{role}@"), path  # its role's Redis user
        assert env["REDIS_PASSWORD_FILE"] == "/etc/interfleet/certs/redis.password", path  # a file, not env
        assert config.fleet_ca, path
        if not isinstance(config, RouterConfig):  # the router signs with worker_tls: its tls_cert here
            assert config.tls_cert and config.tls_key, path
        if isinstance(config, RouterConfig):
            assert config.tls_cert and config.tls_ca and config.auth_tokens_file and config.worker_tls_name, (
                path
            )
        elif isinstance(config, WorkerConfig):
            assert config.tls_cert and config.tls_client_ca, path
        elif isinstance(config, PlannerConfig):  # mTLS both ways: to workers, and from routers
            assert config.tls_ca and config.tls_client_ca and config.worker_tls_name, path
        secured += 1
    assert secured >= 5
    redis = next(yaml.safe_load_all((K8S / "base" / "redis.yaml").read_text()))["spec"]["template"]["spec"]
    args = redis["containers"][0]["args"]
    assert args[args.index("--aclfile") + 1].endswith("users.acl") and "--requirepass" not in args
    assert args[args.index("--tls-auth-clients") + 1] == "yes"


def test_compose_runs_the_fleet_secured_inside():
    """Mutual TLS between router and workers, signed records, a Redis password: all from the
    volume the one-shot fleet-secrets service fills."""
    fleet = yaml.safe_load((ROOT / "configs" / "compose.yaml").read_text())
    assert fleet["fleet_ca"].startswith("/etc/interfleet/certs/")
    assert fleet["predictor"]["tls_cert"].endswith("predictor/cert.pem")  # the one identity that signs models
    router = fleet["router"]
    assert router["tls_ca"] and router["worker_tls_cert"] and router["worker_tls_name"] == "interfleet.fleet"
    assert all(w["tls_cert"] and w["tls_client_ca"] for w in fleet["workers"])
    secrets = COMPOSE["services"]["fleet-secrets"]
    assert "interfleet certs" in secrets["command"][0]
    for name, service in interfleet_services().items():
        assert service["environment"]["REDIS_PASSWORD_FILE"].startswith("/etc/interfleet/certs/"), name
        assert service["depends_on"]["fleet-secrets"]["condition"] == "service_completed_successfully", name
    assert "--aclfile /certs/redis/users.acl" in COMPOSE["services"]["redis"]["command"][0]
    assert COMPOSE["services"]["redis"]["user"] == "10999:10999"  # not root
    roles = {name: service["environment"]["REDIS_URL"] for name, service in interfleet_services().items()}
    assert all(
        url.startswith(f"redis://{'worker' if n.startswith('worker') else n}@") for n, url in roles.items()
    ), roles


def test_kubernetes_pods_are_hardened_and_the_network_is_closed_but_for_the_fleet_s_paths():
    """Every pod non-root with seccomp; every container without privilege escalation, capabilities
    or a writable root; secrets never world-readable; ingress denied unless a policy allows it
    (clients to routers, routers and the planner to workers, routers to the planner, the fleet to
    Redis); routers never all disrupted."""
    docs = [d for path in MANIFESTS for d in yaml.safe_load_all(path.read_text()) if d]
    deployments = [d for d in docs if d["kind"] == "Deployment"]
    assert {d["metadata"]["name"] for d in deployments} >= {
        "router",
        "redis",
        "predictor",
        "planner",
        "worker-cpu",
        "worker-t4",
    }
    for deployment in deployments:
        name, pod = deployment["metadata"]["name"], deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, name
        for container in pod["containers"]:
            context = container["securityContext"]
            assert (
                context["allowPrivilegeEscalation"] is False and context["readOnlyRootFilesystem"] is True
            ), name
            assert context["capabilities"]["drop"] == ["ALL"], name
        for volume in pod.get("volumes", []):
            if "secret" in volume:
                assert volume["secret"]["defaultMode"] & 0o007 == 0, (
                    f"{name}: secret {volume['name']} world-readable"
                )
    # One Secret per role, each from its own `interfleet certs` folder: no pod mounts another's key.
    mounted = {
        d["metadata"]["name"]: {
            v["secret"]["secretName"]
            for v in d["spec"]["template"]["spec"].get("volumes", [])
            if "secret" in v
        }
        for d in deployments
    }
    for name, secrets in mounted.items():
        role = "worker" if name.startswith("worker") else name
        assert secrets == {f"interfleet-{role}-identity"}, name
    policies = {d["metadata"]["name"]: d["spec"] for d in docs if d["kind"] == "NetworkPolicy"}
    assert policies["default-deny-ingress"] == {"podSelector": {}, "policyTypes": ["Ingress"]}
    worker = policies["worker-from-routers-and-planner"]["ingress"]
    callers = {"key": "app.kubernetes.io/name", "operator": "In", "values": ["router", "planner"]}
    assert worker[0]["from"] == [{"podSelector": {"matchExpressions": [callers]}}]
    assert worker[0]["ports"] == [{"port": "grpc", "protocol": "TCP"}]
    assert "from" not in worker[1] and worker[1]["ports"] == [{"port": "metrics", "protocol": "TCP"}]
    planner = policies["planner-from-routers"]["ingress"]
    assert planner[0]["from"] == [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "router"}}}]
    assert planner[0]["ports"] == [{"port": "grpc", "protocol": "TCP"}]
    assert "from" not in planner[1] and planner[1]["ports"] == [{"port": "metrics", "protocol": "TCP"}]
    redis_from = policies["redis-from-the-fleet"]["ingress"][0]["from"][0]["podSelector"]["matchExpressions"]
    assert redis_from == [
        {
            "key": "app.kubernetes.io/name",
            "operator": "In",
            "values": ["router", "worker", "predictor", "planner"],
        }
    ]
    budgets = [d for d in docs if d["kind"] == "PodDisruptionBudget"]
    assert [(b["metadata"]["name"], b["spec"]["minAvailable"]) for b in budgets] == [("router", 1)]
