#!/usr/bin/env bash
# End-to-end migration benchmark (docs/performance.md records the figures):
# about 1,000,000 journal entries in synthetic PMO, ProRenata and BHV exports
# migrated to fhir-ndjson, against a raw parse of the same input files in the
# same run.
#
#   bash conformance-tests/bench/migrate.sh [PUPILS] [TARGET_FORMAT]
#   (defaults: 8000 pupils ≈ 1,000,000 entries; fhir-ndjson)
#
# The raw parse (quick-xml events, or serde_json building nothing) is the
# practical limit for anything that reads the files; the last line gives
# the migration's time as a multiple of it. BRYGGA=PATH runs another build
# of brygga (e.g. an older one, for a before/after comparison); TARGET_DIR=DIR
# writes the target and the sort runs there instead (the fhir-ndjson target
# is about 2.8 GB at 8,000 pupils, the runs 0.7 GB).
set -euo pipefail
cd "$(dirname "$0")/../.."

pupils="${1:-8000}"
target_format="${2:-fhir-ndjson}"
out="target/bench/migrate-$pupils"
brygga="${BRYGGA:-target/release/brygga}"
dest="${TARGET_DIR:-$out}"
cargo build --release --locked --quiet -p brygga -p brygga-conformance --example decode_throughput
if [ ! -f "$out/synth/manifest.json" ]; then
    target/release/brygga synth --pupils "$pupils" --seed 1 --out "$out/synth"
fi
mkdir -p "$dest"
rm -rf "$dest/target" "$dest/target.report" "$dest"/target.work-* "$out/state.sqlite"*

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
du -ch "$out"/synth/native/* | tail -1 | sed 's/^/input: /'
echo "raw parse of the same files (the practical limit):"
bench=target/release/examples/decode_throughput
raw=0
for f in pmo:xml prorenata:json bhv:xml; do
    line=$("$bench" --format "${f%%:*}" --runs 1 "$out/synth/native/${f%%:*}.${f##*:}" | sed -n 1p)
    echo "$line"
    # | format | size | pass | 1.23 s | ...
    raw=$(echo "$line" | awk -F'|' -v sum="$raw" '{ split($5, t, " "); print sum + t[1] }')
done
echo "migration to $target_format:"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
"$brygga" migrate \
    --source "bhv:$out/synth/native/bhv.xml" \
    --source "pmo:$out/synth/native/pmo.xml" \
    --source "prorenata:$out/synth/native/prorenata.json" \
    --profile config/mappings/syntetisk-pmo.toml \
    --profile config/mappings/syntetisk-prorenata.toml \
    --target "$target_format:$dest/target" \
    --state "$out/state.sqlite" 2>&1 | tee "$log"
# The target is big (3 GB for fhir-ndjson at 8,000 pupils): not kept.
rm -rf "$dest/target"
# migrate: ... entries in ...; 12.34 s, 81234 entries/s, peak RSS 123456 KiB
seconds=$(grep -o '[0-9.]* s, [0-9]* entries/s' "$log" | tail -1 | cut -d' ' -f1)
echo "summary: raw parse ${raw} s, migration ${seconds} s = $(awk -v m="$seconds" -v r="$raw" 'BEGIN { printf "%.1f", m / r }') x the raw parse"
