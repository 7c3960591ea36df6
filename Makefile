# The two commands: `make run` (a local fleet on 127.0.0.1:8001, HTTP on :8000) and `make test`.
# Everything else here is what those two need, plus benchmarks and code generation.

VENV ?= .venv
PYTHON := $(VENV)/bin/python
INTERFLEET := $(VENV)/bin/interfleet
REPOSITORY ?= model_repository
# `make run MODEL_REPOSITORY=/path`: serve that repository (interfleet's layout or Triton's) on
# two workers that host every model in it (configs/repository.yaml).
ifdef MODEL_REPOSITORY
CONFIG ?= configs/repository.yaml
UP_FLAGS := --model-repository $(MODEL_REPOSITORY)
endif
CONFIG ?= configs/local.yaml
# The policy scanner (checkov) lives in a virtualenv of its own: it pins packages (packaging,
# networkx) that interfleet's own would have to move for it.
SCAN_VENV ?= $(VENV)-scan
CHECKOV_VERSION := 3.3.30

# Passed through to `interfleet up` (router port; an external Redis instead of the embedded one).
export INTERFLEET_ROUTER_PORT
export REDIS_URL

.PHONY: run test test-unit lint scanner typecheck compose-test chaos certs install zoo bench-cli bench-security bench-router bench-peer bench-loadgen bench-batching bench-predictor bench-decision profile eval-predictor eval-routing eval-routing-gpu eval-scale eval-plan eval-replan protos clean

run: install zoo
	$(INTERFLEET) up --config $(CONFIG) $(UP_FLAGS)

test: install scanner
	CHECKOV=$(SCAN_VENV)/bin/checkov $(PYTHON) -m pytest

# checkov for tests/security/test_policy_scan.py (about a minute, once).
scanner: $(SCAN_VENV)/.installed

$(SCAN_VENV)/.installed:
	test -x $(SCAN_VENV)/bin/python || python3 -m venv $(SCAN_VENV)
	$(SCAN_VENV)/bin/python -m pip install --quiet checkov==$(CHECKOV_VERSION)
	touch $@

# The fast half: unit tests of pure logic, no fleet started (about 20 s).
test-unit: install
	$(PYTHON) -m pytest tests/unit

# ruff's lint and format check over the tree (`ruff format .` and `ruff check --fix .` mend most).
lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# mypy over the pure layers (policies, batchers, router core, model queue, emulation, simulation).
typecheck: install
	$(VENV)/bin/mypy

# docker-compose.yml for real (on 2 cores: about 3 minutes from no images, under 2 with them cached):
# installs Debian's docker.io, docker-compose and mmdebstrap where missing (as root), starts dockerd
# if none runs (and stops it after), builds the images, and tests the stack (tests/compose).
compose-test: install
	deploy/images/install-docker-host.sh
	$(PYTHON) -m pytest -m compose tests/compose

# Faults under load (about 15 minutes, loopback only; the fleet on every core but the last, the
# load generator alone on the last): worker SIGKILL, worker SIGSTOP/SIGCONT, Redis restarted
# empty, a rolling restart of two routers, 3x overload, a 10x burst, three runs each;
# per-request outcomes, timelines and docs/reliability.md's tables in results/chaos/. Exits
# non-zero if a target is missed or a fault had no valid run.
chaos: install
	$(PYTHON) bench/chaos --repository $(REPOSITORY) --out results/chaos

# A local CA, an identity per service, Redis passwords per role and tokens in certs/ (docs/security.md).
certs: install
	$(INTERFLEET) certs --out certs --host router --host workers --host redis

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(PYTHON) || python3 -m venv $(VENV)
	$(PYTHON) -m pip install --quiet --upgrade pip
	$(PYTHON) -m pip install --quiet -e '.[dev]'
	$(PYTHON) -m pip check
	touch $@

# Generates only the zoo models that are missing (`interfleet models build --force` rebuilds).
zoo: install
	$(INTERFLEET) models build --repository $(REPOSITORY)

# What starting `interfleet` costs (health checks run it every few seconds): lazy beside eager.
bench-cli: install
	$(PYTHON) bench/cli_startup.py --out results/bench-cli.json

# The router under attack: its memory under a 300 x 12 MiB tokenless burst and 600 valid 1.5 MiB
# requests; its latency and refusals under 20,000 junk worker registrations.
bench-security: install
	$(PYTHON) bench/security_bursts.py --out docs/benchmarks/security/bursts.json
	$(PYTHON) bench/security_flood.py --out docs/benchmarks/security/junk-registrations.json

bench-router: install
	$(PYTHON) bench/router_overhead.py --out results/bench-router.json

# The fleet against MLServer 1.7.1 and KServe 0.21 serving the same ONNX file (installs each
# into .bench-venvs/ on first use).
bench-peer: install zoo
	$(PYTHON) bench/peer_servers.py --repository $(REPOSITORY) --out results/bench-peer.json

bench-loadgen: install
	$(PYTHON) bench/loadgen_capacity.py --out results/bench-loadgen.json

bench-batching: install
	$(PYTHON) bench/batching.py --out results/bench-batching.json

bench-predictor: install zoo
	$(PYTHON) bench/predictor_scoring.py --repository $(REPOSITORY) --out results/bench-predictor.json

bench-decision: install zoo
	$(PYTHON) bench/routing_decision.py --repository $(REPOSITORY) --out results/bench-decision.json

# Re-profile this machine (about 8 minutes on 2 cores) and retrain the shipped model on it.
profile: install zoo
	$(INTERFLEET) profile --repository $(REPOSITORY) --out predictor/data/reference.csv
	$(INTERFLEET) predictor train --repository $(REPOSITORY)

eval-predictor: install zoo
	$(INTERFLEET) predictor eval --repository $(REPOSITORY) --out results/predictor-eval.json

# Four routing policies (and interference-aware with least-bad) on the default fleet at 50% and 80%
# load and with a noisy neighbour, interleaved, 3 repeats (about 21 minutes): results/routing/.
eval-routing: install zoo
	$(PYTHON) bench/routing.py --repository $(REPOSITORY) --out results/routing

# Emulated GPUs, simulated: eight policies' own max loads at 99% SLO attainment on 100 emulated
# GPUs (3 device seeds x 2 traces, bisected to 2%), the capacity bound, the predictor scored on
# held-out pairs, and 1,000 GPUs at 90% of each policy's load, for the zoo (about 30 minutes on one
# core) and the realistic set (about 2 hours: its interference-aware runs are the slow ones).
eval-scale: install zoo
	$(PYTHON) bench/eval_scale.py --repository $(REPOSITORY) --workload-set zoo --out results/eval-scale/zoo
	$(PYTHON) bench/eval_scale.py --repository $(REPOSITORY) --workload-set realistic --out results/eval-scale/realistic

# Emulated GPUs, simulated: placements (the fleet file's, replicate-all, random, least-loaded,
# first-fit packing, the planner) x routings (least-loaded, power-of-two, balanced
# interference-aware, speed-aware) on 100 emulated GPUs of 5 types, each pair at its own max
# load (3 device seeds x 2 demand mixes, bisected to 2%), the bounds, fewest GPUs for a demand,
# the planner's solve time at 1,000 and 10,000 GPUs; the realistic set, seeds split over the two
# cores (about 70 minutes): results/eval-plan/realistic/.
eval-plan: install zoo
	$(PYTHON) bench/eval_plan.py --repository $(REPOSITORY) --workload-set realistic --window 0.05 \
		--device-seeds 0,1 --out results/eval-plan/realistic-a & \
	$(PYTHON) bench/eval_plan.py --repository $(REPOSITORY) --workload-set realistic --window 0.05 \
		--device-seeds 2 --no-large --out results/eval-plan/realistic-b; wait
	$(PYTHON) bench/eval_plan.py --merge results/eval-plan/realistic-a/results.json \
		results/eval-plan/realistic-b/results.json --out results/eval-plan/realistic

# Emulated GPUs (about 15 minutes): a diurnal day whose mix shifts, re-planned against a static
# plan sized for the peak. Live: 8 workers on emulated GPUs behind the real router, Redis,
# predictor and planner service, the same fleet simulated beside it (results/eval-replan/live/);
# then simulated only, 16 GPUs of the realistic set (results/eval-replan/simulated/).
eval-replan: install zoo
	$(PYTHON) bench/eval_replan_live.py --repository $(REPOSITORY) --out results/eval-replan/live
	$(PYTHON) bench/eval_replan.py --repository $(REPOSITORY) --out results/eval-replan/simulated

# Emulated GPUs, for real (about 15 minutes): workers on emulated T4/L4/A10/A100/H100 behind the
# real router, Redis and predictor; every policy at 50/80/95% of its own simulated max load, and
# the same fleet simulated beside it (the cross-check); results/eval-routing-gpu/.
eval-routing-gpu: install zoo
	$(PYTHON) bench/routing_gpu.py --repository $(REPOSITORY) --out results/eval-routing-gpu

# The fleet's own messages; the generated code is committed so installs need no protoc.
protos: install
	$(PYTHON) -m grpc_tools.protoc -Iprotos --python_out=. --pyi_out=. --grpc_python_out=. \
		protos/interfleet/proto/fleet.proto

clean:
	rm -rf $(VENV) $(SCAN_VENV) run results .pytest_cache .bench-venvs
