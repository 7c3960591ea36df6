"""Config layering: CLI > env > file > default, and errors that name their source."""

import pytest

from interfleet.config import build_config
from interfleet.config_file import check_fleet_file, router_section, worker_section
from interfleet.errors import ConfigError
from router.config import ENV_PREFIX, RouterConfig
from services.worker.config import WorkerConfig


def test_precedence_cli_over_env_over_file_over_default():
    file = {"port": 9000, "metrics_port": 9001, "refresh_interval_s": 1.0, "redis_url": "redis://file"}
    env = {ENV_PREFIX + "PORT": "9100", ENV_PREFIX + "METRICS_PORT": "9101", "REDIS_URL": "redis://env"}
    config = build_config(
        RouterConfig, cli={"port": 9200, "metrics_port": None}, env=env, env_prefix=ENV_PREFIX, file=file
    )
    assert config.port == 9200  # CLI
    assert config.metrics_port == 9101  # env
    assert config.refresh_interval_s == 1.0  # file
    assert config.redis_url == "redis://env"  # env alias beats file
    assert config.policy == "least-loaded"  # default


def test_bad_values_name_their_source():
    with pytest.raises(
        ConfigError, match="environment variable INTERFLEET_ROUTER_PORT: .*valid integer.*'eighty'"
    ):
        build_config(
            RouterConfig,
            env={"INTERFLEET_ROUTER_PORT": "eighty", "REDIS_URL": "redis://x"},
            env_prefix=ENV_PREFIX,
        )
    with pytest.raises(ConfigError, match="fleet.yaml: 'prot': unknown setting"):
        build_config(RouterConfig, file={"prot": 1}, file_name="fleet.yaml")


def test_nothing_is_bent_to_fit_its_field():
    # A float is never truncated into an integer field, wherever it comes from.
    with pytest.raises(ConfigError, match=r"fleet.yaml: 'max_in_flight': .*fractional part \(got 2.5\)"):
        build_config(
            RouterConfig, file={"max_in_flight": 2.5, "redis_url": "redis://x"}, file_name="fleet.yaml"
        )
    with pytest.raises(ConfigError, match=r"option --threads: .*valid integer.*\(got '1.5'\)"):
        build_config(WorkerConfig, cli={"worker_id": "w", "models": "a", "threads": "1.5"})
    with pytest.raises(ConfigError, match=r"option --cpus\[1\]: .*valid integer"):
        build_config(WorkerConfig, cli={"worker_id": "w", "models": "a", "cpus": "0,one"})
    with pytest.raises(ConfigError, match="'allow_spinning': .*valid boolean"):
        build_config(WorkerConfig, file={"worker_id": "w", "models": ["a"], "allow_spinning": "maybe"})
    with pytest.raises(ConfigError, match="WorkerConfig: 'models' is required"):
        build_config(WorkerConfig, cli={"worker_id": "w"})
    # What converts without loss does: text to numbers, numbers to text, whole floats to ints.
    config = build_config(
        WorkerConfig,
        file={"worker_id": 7, "models": ["a"], "port": 9000.0},
        env={"INTERFLEET_WORKER_THREADS": "2"},
        env_prefix="INTERFLEET_WORKER_",
    )
    assert (config.worker_id, config.port, config.threads) == ("7", 9000, 2)


def test_lists_and_validation_of_worker_config():
    config = build_config(WorkerConfig, cli={"worker_id": "w", "models": "a, b", "cpus": "0,1"})
    assert config.models == ("a", "b") and config.cpus == (0, 1)
    with pytest.raises(ConfigError, match="device must be 'cpu', 'cuda:N' or 'emulated:<type>'"):
        build_config(WorkerConfig, cli={"worker_id": "w", "models": "a", "device": "gpu"})


def test_fleet_file_sections_inherit_shared_keys():
    data = {
        "fleet": "f",
        "model_repository": "repo",
        "router": {"port": 1},
        "workers": [{"worker_id": "a", "models": ["m"]}, {"worker_id": "b", "models": ["m"], "fleet": "g"}],
    }
    check_fleet_file(data, "x.yaml")
    assert worker_section(data, "a", "x.yaml") == {
        "fleet": "f",
        "model_repository": "repo",
        "worker_id": "a",
        "models": ["m"],
    }
    assert worker_section(data, "b", "x.yaml")["fleet"] == "g"
    assert router_section(data) == {"fleet": "f", "model_repository": "repo", "port": 1}
    with pytest.raises(ConfigError, match="no worker 'c'"):
        worker_section(data, "c", "x.yaml")
    with pytest.raises(ConfigError, match="repeated: a"):
        check_fleet_file({"workers": [{"worker_id": "a"}, {"worker_id": "a"}]}, "x.yaml")
