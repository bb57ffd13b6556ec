#!/usr/bin/env bash
# sketch_redis.sh - starts a throw-away redis-server on a free loopback port, runs the side-by-side
# comparison (bench/sketch_redis.c) against it, and stops the server again.
# usage: bench/sketch_redis.sh BINARY CSV [extra args for the binary, e.g. --trials 100 --max 1000000]
set -euo pipefail
bin=$1 csv=$2
shift 2
command -v redis-server >/dev/null || { echo "redis-server missing: run scripts/deps.sh" >&2; exit 1; }
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
dir=$(mktemp -d)
redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$dir" \
	--logfile "$dir/redis.log" &
pid=$!
trap 'kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 100); do
	redis-cli -p "$port" ping >/dev/null 2>&1 && break
	sleep 0.1
done
echo "redis: $(redis-server --version)"
"$bin" "$port" --csv "$csv" "$@"
