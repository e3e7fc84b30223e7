#!/usr/bin/env bash
# End-to-end migration benchmark (docs/performance.md records the figures):
# about 1,000,000 journal entries in synthetic PMO, ProRenata and BHV exports
# migrated to fhir-ndjson, against a raw parse of the same input files in the
# same run.
#
#   bash conformance-tests/bench/migrate.sh [PUPILS] [TARGET_FORMAT]
#   (defaults: 8000 pupils ≈ 1,000,000 entries; fhir-ndjson)
set -euo pipefail
cd "$(dirname "$0")/../.."

pupils="${1:-8000}"
target_format="${2:-fhir-ndjson}"
out="target/bench/migrate-$pupils"
cargo build --release --locked --quiet -p brygga -p brygga-conformance --example decode_throughput
if [ ! -f "$out/synth/manifest.json" ]; then
    target/release/brygga synth --pupils "$pupils" --seed 1 --out "$out/synth"
fi
rm -rf "$out/target" "$out/target.report" "$out"/target.work-* "$out/state.sqlite"*

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
du -ch "$out"/synth/native/* | tail -1 | sed 's/^/input: /'
echo "raw parse of the same files (the practical limit):"
bench=target/release/examples/decode_throughput
for f in pmo:xml prorenata:json bhv:xml; do
    "$bench" --format "${f%%:*}" --runs 1 "$out/synth/native/${f%%:*}.${f##*:}" | sed -n 1p
done
echo "migration:"
target/release/brygga migrate \
    --source "bhv:$out/synth/native/bhv.xml" \
    --source "pmo:$out/synth/native/pmo.xml" \
    --source "prorenata:$out/synth/native/prorenata.json" \
    --profile config/mappings/syntetisk-pmo.toml \
    --profile config/mappings/syntetisk-prorenata.toml \
    --target "$target_format:$out/target" \
    --state "$out/state.sqlite"
