#!/usr/bin/env bash
# The main job. Until the relay lands (issue 3) this replays every editing
# trace through the CRDT core and prints the timings; the relay with the demo
# editor will take its place.
set -euo pipefail
cd "$(dirname "$0")/.."
traces="${COLLAB_TRACES:-$PWD/../shared/traces}"
echo "The relay is not built yet: replaying the editing traces in $traces through collab-crdt."
for trace in "$traces"/*.json.gz; do
    cargo run --quiet --release -p collab-crdt --features serde --example replay -- "$trace"
done
