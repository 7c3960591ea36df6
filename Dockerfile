# interfleet: one image for every service (router, worker); the command picks the service.
#
#   docker build -t interfleet:cpu .                                  # CPU: onnxruntime
#   docker build -t interfleet:gpu --build-arg DEVICE=gpu .           # GPU: CUDA runtime + onnxruntime-gpu
#
# The model zoo is generated at build time into /models (no weights are downloaded); mount a
# volume over /models to serve your own repository instead.

ARG DEVICE=cpu

# -- bases: the Python the venv is built with is the Python it runs with -----------------------
# LightGBM (the router's and the predictor's model) needs the GNU OpenMP runtime, which slim lacks.
FROM python:3.11-slim-bookworm AS base-cpu
RUN apt-get update \
 && apt-get install -y --no-install-recommends libgomp1=12.2.* \
 && rm -rf /var/lib/apt/lists/*
ENV PYTHON=python3 EXTRAS=""

FROM nvidia/cuda:12.6.3-cudnn-runtime-ubuntu24.04 AS base-gpu
# Ubuntu 24.04's Python is 3.12, within interfleet's requires-python (>= 3.11).
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3=3.12.* python3-venv=3.12.* libgomp1=14.2.* \
 && rm -rf /var/lib/apt/lists/*
ENV PYTHON=python3 EXTRAS="[gpu]"

# -- build: install into a venv and generate the zoo ------------------------------------------
# base-${DEVICE} is one of the stages above, not a registry image, so it has no tag to pin.
# checkov:skip=CKV_DOCKER_7:base-${DEVICE} is a stage of this file (pinned above), not a registry image
# hadolint ignore=DL3006
FROM base-${DEVICE} AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY protos protos
COPY interfleet interfleet
COPY emulation emulation
COPY router router
COPY planner planner
COPY services services
COPY loadgen loadgen
COPY predictor predictor
COPY simulation simulation
COPY fleet fleet
RUN "$PYTHON" -m venv /opt/interfleet \
 && /opt/interfleet/bin/pip install --no-cache-dir ".${EXTRAS}" \
 && if [ -n "$EXTRAS" ]; then /opt/interfleet/bin/pip uninstall -y onnxruntime \
      && /opt/interfleet/bin/pip install --no-cache-dir --force-reinstall --no-deps onnxruntime-gpu==1.31.1; fi \
 && /opt/interfleet/bin/interfleet models build --repository /models

# -- runtime: the venv, the zoo, a non-root user ------------------------------------------------
# hadolint ignore=DL3006
FROM base-${DEVICE} AS runtime
RUN groupadd --system --gid 10001 interfleet \
 && useradd --system --uid 10001 --gid interfleet --home-dir /home/interfleet --create-home interfleet
COPY --from=build /opt/interfleet /opt/interfleet
COPY --from=build --chown=interfleet:interfleet /models /models
COPY configs /etc/interfleet
COPY predictor/data /opt/interfleet-predictor/data
COPY predictor/models /opt/interfleet-predictor/models
ENV PATH=/opt/interfleet/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    INTERFLEET_WORKER_MODEL_REPOSITORY=/models \
    INTERFLEET_ROUTER_HOST=0.0.0.0 \
    INTERFLEET_WORKER_HOST=0.0.0.0 \
    INTERFLEET_PLANNER_HOST=0.0.0.0 \
    INTERFLEET_HEALTH_ADDRESS=127.0.0.1:8001
USER 10001:10001
WORKDIR /home/interfleet
EXPOSE 8000 8001 8002
# The standard gRPC health service; services on another port set INTERFLEET_HEALTH_ADDRESS.
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 CMD ["interfleet", "health"]
ENTRYPOINT ["interfleet"]
CMD ["router", "--config", "/etc/interfleet/compose.yaml"]
