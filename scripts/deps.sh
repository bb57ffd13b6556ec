#!/usr/bin/env bash
# Installs (idempotently, as root) what kuniq needs, at one of two levels:
#   scripts/deps.sh build   what building build/kuniq and build/kuniq-gen needs (make, make demo)
#   scripts/deps.sh [full]  everything: the build, tests, fuzzing, benchmarks and demos
#                           (make test, the benchmarks, .ci/run)
set -euo pipefail
level=${1:-full}
build_pkgs=(gcc make libc6-dev librdkafka-dev libxxhash-dev zlib1g-dev libzstd-dev libmicrohttpd-dev)
full_pkgs=(g++ clang clang-format libclang-rt-14-dev llvm pkg-config libcmocka-dev kcat
           libjansson-dev libsimdjson-dev jq redis-server python3 python3-pytest tzdata
           maven default-jre-headless man-db groff-base zstd)
case "$level" in
build) pkgs=("${build_pkgs[@]}") ;;
full) pkgs=("${build_pkgs[@]}" "${full_pkgs[@]}") ;;
*)
	echo "usage: scripts/deps.sh [build|full]" >&2
	exit 2
	;;
esac
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
	echo "deps: installing ${missing[*]}" >&2
	export DEBIAN_FRONTEND=noninteractive
	SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
	$SUDO apt-get update -qq
	$SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
[ "$level" = full ] || exit 0
python3 -c 'import pytest' 2>/dev/null || python3 -m pip install -q pytest
# the Kafka tests and bench: topic admin and the Python consumer baseline
python3 -c 'import confluent_kafka' 2>/dev/null || python3 -m pip install -q confluent-kafka
