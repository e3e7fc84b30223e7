#!/usr/bin/env bash
# Decode throughput of every adapter against the practical upper limit on
# the same file (docs/performance.md records the figures).
#
#   bash conformance-tests/bench/decode.sh [PUPILS]    (default 20000)
#
# Writes a synthetic municipality with each journal system's own export
# under target/bench/, then measures each file: a raw scan (quick-xml
# events, or serde_json building nothing) and a full decode to canonical
# records with the synthetic municipality's mapping profile. Best of three
# passes each, with a warm page cache.
set -euo pipefail
cd "$(dirname "$0")/../.."

pupils="${1:-20000}"
out="target/bench/synth-$pupils"
cargo build --release --locked --quiet -p brygga -p brygga-conformance --example decode_throughput
if [ ! -f "$out/manifest.json" ]; then
    target/release/brygga synth --pupils "$pupils" --seed 1 --out "$out"
fi
bench=target/release/examples/decode_throughput

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "| format | input | pass | time | MiB/s | records/s | vs limit |"
echo "|---|---|---|---|---|---|---|"
"$bench" --format pmo --profile config/mappings/syntetisk-pmo.toml "$out/native/pmo.xml"
"$bench" --format prorenata --profile config/mappings/syntetisk-prorenata.toml "$out/native/prorenata.json"
"$bench" --format bhv "$out/native/bhv.xml"
"$bench" --format canonical "$out/canonical/bhv.ndjson"
