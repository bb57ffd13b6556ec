#!/usr/bin/env bash
# Installs (idempotently, as root) everything kuniq's build, tests, demos and benchmarks need.
set -euo pipefail
pkgs=(gcc g++ make clang clang-format libclang-rt-14-dev llvm pkg-config
      librdkafka-dev libxxhash-dev zlib1g-dev libzstd-dev zstd libcmocka-dev kcat
      libjansson-dev libsimdjson-dev jq redis-server python3 python3-pytest tzdata
      maven default-jre-headless)
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
python3 -c 'import pytest' 2>/dev/null || python3 -m pip install -q pytest
# the Kafka tests and bench: topic admin and the Python consumer baseline
python3 -c 'import confluent_kafka' 2>/dev/null || python3 -m pip install -q confluent-kafka
