"""Every service's configuration checked before any process starts.

`interfleet up` builds each service's config from the fleet file exactly as that service's
`main` will (the same parser, the same CLI > env > file > default order), and checks what it can
without starting anything: every worker's cores exist on this host, the router's policy and its
arguments are valid. A mistake then stops the fleet in one line before a worker has spent
minutes loading models, and nothing is left running.
"""

from __future__ import annotations

import os

from fleet.cli import build_parser
from interfleet.errors import ConfigError
from planner.main import config_from as planner_config_from
from predictor.main import predictor_config_from
from router.config import RouterConfig
from router.main import config_from as router_config_from
from router.policies import make_policy
from services.worker.main import config_from as worker_config_from

# Services are handed the real URL when they start; any URL will do to check the rest.
PLACEHOLDER_REDIS_URL = "redis://127.0.0.1:6379/0"


def check_services(
    config_path: str,
    worker_ids: list[str],
    router_port: int | None,
    with_predictor: bool,
    with_planner: bool = False,
) -> RouterConfig:
    """Raise ConfigError naming the first service whose configuration cannot work; the router's
    configuration otherwise (how many router processes to start is its)."""
    env = {**os.environ, "REDIS_URL": os.environ.get("REDIS_URL") or PLACEHOLDER_REDIS_URL}
    available = os.sched_getaffinity(0)
    for worker_id in worker_ids:
        args = _parsed(["worker", "--config", config_path, "--worker-id", worker_id])
        worker = worker_config_from(args, env)
        missing = sorted(set(worker.cpus) - available)
        if missing:
            raise ConfigError(
                f"{config_path}: worker {worker_id}: cpus {list(worker.cpus)} names cores this host does not "
                f"offer: {missing} (available: {sorted(available)})"
            )
    port = [] if router_port is None else ["--port", str(router_port)]
    router = router_config_from(_parsed(["router", "--config", config_path, *port]), env)
    make_policy(router.policy, router.policy_args)
    if with_predictor:
        predictor_config_from(_parsed(["predictor", "serve", "--config", config_path]), env)
    if with_planner:
        planner_config_from(_parsed(["planner", "serve", "--config", config_path]), env)
    return router


def _parsed(argv: list[str]):
    return build_parser(argv[0]).parse_args(argv)
