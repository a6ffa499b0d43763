#!/usr/bin/env bash
# Local vs cluster: one pipeline run twice on the same store and binary, first by the local engine, then on a
# Ballista cluster (a scheduler and two executors on loopback ports, started here and stopped after), each
# with `--no-cache`. Prints wall and CPU time of each, and whether the two runs' outputs are byte-identical
# (the SHA-256 of every output in their run records).
#
#   benches/cluster.sh BINARY STORE [PIPELINE] [SLOTS]
#   benches/cluster.sh target/release/boardpack bench/scale-16/lake board-pack 1
#
# STORE must hold the sample data (`boardpack sample --scale N`, or a `boardpack bench` directory's
# `scale-N/lake`). The executors' CPU time is their own (`/usr/bin/time` of each process).
set -euo pipefail
bin="$(realpath "$1")"
store="$2"
pipeline="${3:-board-pack}"
slots="${4:-1}"
project="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
fmt='wall %e s, cpu %U+%S s, peak rss %M KB'
echo "machine: $(nproc) cores; load before: $(cut -d' ' -f1-3 /proc/loadavg)"

run() { # label, then environment assignments
    local label="$1"; shift
    env "$@" /usr/bin/time -o "$work/$label.time" -f "$fmt" \
        "$bin" --project "$project" --store "$store" --quiet run "$pipeline" --no-cache >"$work/$label.out" 2>&1 \
        || { cat "$work/$label.out"; exit 1; }
    echo "$label: $(cat "$work/$label.time")"
    grep -o 'runs/[^ ]*/run.json' "$work/$label.out" | head -1 >"$work/$label.record"
}

run local

port=50050
"$bin" --project "$project" --store "$store" cluster scheduler --bind "127.0.0.1:$port" \
    --external-host 127.0.0.1 >"$work/scheduler.log" 2>&1 &
sleep 2
executors=()
for i in 1 2; do
    mkdir -p "$work/exec$i"
    /usr/bin/time -o "$work/exec$i.time" -f "$fmt" \
        "$bin" --project "$project" --store "$store" cluster executor --scheduler "127.0.0.1:$port" \
        --bind 127.0.0.1 --external-host 127.0.0.1 --flight-port $((port + 10 + i)) \
        --grpc-port $((port + 20 + i)) --slots "$slots" --work-dir "$work/exec$i" >"$work/exec$i.log" 2>&1 &
    executors+=($!)
done
sleep 5
run cluster BOARDPACK_ENGINE="ballista://127.0.0.1:$port"
# Stop the executors themselves (not /usr/bin/time), so that time reports their CPU.
for i in 1 2; do pkill -TERM -f -- "^$bin .*--flight-port $((port + 10 + i))" || true; done
wait "${executors[@]}" 2>/dev/null || true
for i in 1 2; do echo "executor $i: $(cat "$work/exec$i.time" | tail -1)"; done

python3 - "$store/$(cat "$work/local.record")" "$store/$(cat "$work/cluster.record")" <<'EOF'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
def hashes(r):
    return {o["path"].split("/", 4)[-1]: o["sha256"] for o in r["outputs"]}
ha, hb = hashes(a), hashes(b)
differ = sorted(k for k in ha.keys() | hb.keys() if ha.get(k) != hb.get(k))
print(f"outputs: {len(ha)} local, {len(hb)} cluster; identical: {not differ}" + (f"; differ: {differ}" if differ else ""))
EOF
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
