#!/usr/bin/env bash
# Builds, from Debian packages, local stand-ins for the registry images that Dockerfile and
# docker-compose.yml name, for machines that can reach Debian's archive but no image registry.
#
#   deploy/images/build-base-images.sh            # builds the stand-ins that are missing
#   deploy/images/build-base-images.sh --force    # rebuilds them all
#
# Each is `mmdebstrap --variant=minbase` of Debian bookworm plus the packages below, imported
# with `docker import` and tagged with the name the files use, so the files stay unchanged.
# The versions match what the tags promise (Debian bookworm ships Python 3.11, Redis 7.0.15 and
# Prometheus 2.42.0); each image carries the label org.interfleet.stand-in=debian-bookworm.
# Grafana is not packaged by Debian, so grafana/grafana-oss has no stand-in: the compose stack
# runs it only where the image can be pulled (profile "dashboards").
# The host's extra CA certificates (an egress proxy's, say) are copied in so pip works in builds.
set -euo pipefail

force=false
[[ "${1:-}" == "--force" ]] && force=true
suite=bookworm
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
extra_ca=/usr/local/share/ca-certificates

# name|packages|docker import --change lines (separated by ';')
images=(
  "python:3.11-slim-bookworm|python3,python3-venv,passwd,ca-certificates|ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin;ENV LANG=C.UTF-8;CMD [\"python3\"]"
  "redis:7.0.15-bookworm|redis-server,redis-tools,ca-certificates|ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin;WORKDIR /data;EXPOSE 6379;CMD [\"redis-server\", \"--protected-mode\", \"no\"]"
  "prom/prometheus:v2.42.0|prometheus,wget,ca-certificates|ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin;WORKDIR /prometheus;EXPOSE 9090;ENTRYPOINT [\"/usr/bin/prometheus\"];CMD [\"--config.file=/etc/prometheus/prometheus.yml\", \"--storage.tsdb.path=/prometheus\"]"
)

for spec in "${images[@]}"; do
  IFS='|' read -r name packages changes <<<"$spec"
  if ! $force && docker image inspect "$name" >/dev/null 2>&1; then
    echo "have $name"
    continue
  fi
  echo "building $name from Debian $suite: $packages"
  hooks=(--customize-hook='mkdir -p "$1/data" "$1/prometheus" && chmod 0777 "$1/data" "$1/prometheus"')
  if compgen -G "$extra_ca/*.crt" >/dev/null; then
    hooks+=(--customize-hook="copy-in $extra_ca/. /usr/local/share/ca-certificates/"
            --customize-hook='chroot "$1" update-ca-certificates')
  fi
  # Prometheus's console libraries where its official image keeps them (Debian ships them as examples).
  hooks+=(--customize-hook='examples="$1/usr/share/doc/prometheus/examples"; if [ -d "$examples" ]; then
            mkdir -p "$1/usr/share/prometheus" && cp -r "$examples/console_libraries" "$examples/consoles" "$1/usr/share/prometheus/"; fi')
  hooks+=(--customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin "$1"/usr/share/doc/*/changelog*')
  change_args=(--change "LABEL org.interfleet.stand-in=debian-$suite")
  IFS=';' read -r -a change_lines <<<"$changes"
  for line in "${change_lines[@]}"; do change_args+=(--change "$line"); done
  # Through a file, so that a failed bootstrap never leaves an empty image behind under the name.
  tarball="$(mktemp --suffix=.tar)"
  trap 'rm -f "$tarball"' EXIT
  mmdebstrap --quiet --variant=minbase --include="$packages" "${hooks[@]}" "$suite" "$tarball" "$mirror"
  docker import "${change_args[@]}" "$tarball" "$name"
  rm -f "$tarball"
done
