#!/usr/bin/env bash
# Installs what `make compose-test` needs on a Debian host, where missing: a Docker engine and
# client (docker.io), Compose (docker-compose 1.29, when the client has no `docker compose`),
# mmdebstrap (for deploy/images/build-base-images.sh) and Chromium (the dashboard screenshot).
# Needs root for apt-get; otherwise it says what is missing and leaves the tests to skip.
set -euo pipefail

missing=()
command -v dockerd >/dev/null || missing+=(docker.io)
docker compose version >/dev/null 2>&1 || command -v docker-compose >/dev/null || missing+=(docker-compose)
command -v mmdebstrap >/dev/null || missing+=(mmdebstrap)
command -v chromium >/dev/null || missing+=(chromium)
if [[ ${#missing[@]} -eq 0 ]]; then
  exit 0
fi
if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null; then
  echo "compose-test: missing ${missing[*]} (install them, as root, with apt-get)" >&2
  exit 0
fi
echo "compose-test: installing ${missing[*]}"
if ! apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null 2>&1; then
  apt-get update -qq >/dev/null 2>&1 || true
  apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null \
    || echo "compose-test: could not install ${missing[*]}; the compose tests will say what they lack" >&2
fi
