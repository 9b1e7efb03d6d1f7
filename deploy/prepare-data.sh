#!/usr/bin/env bash
# bash deploy/prepare-data.sh [ROOT]
# The cluster's data, on the shared mount every node sees: the pinned public sources fetched (SHA-256 checked) into
# ROOT/data/raw, then C-IMHI and IMHI built into ROOT/data/cimhi and ROOT/data/imhi, where the cluster configs
# (configs/train/glm4-9b-lora.yaml, configs/tune/glm4-9b-lora.yaml, configs/serve/cluster.yaml) read them.
# ROOT defaults to /mnt/shared/mentalglm. A second run downloads nothing and rebuilds in seconds.
# MENTALGLM_DATA_MIRROR: fetch from a mirror (folder or URL laid out as data/raw) instead of upstream;
# MENTALGLM_DATA_SPLITS: the splits to fetch and build, e.g. "[train,val]" for a mirror of training parts;
# MENTALGLM_ALLOW_MODIFIED_MIRROR=true: take a mirror's files that differ from upstream (SOURCES.md marks them).
set -euo pipefail
ROOT="${1:-/mnt/shared/mentalglm}"
PROJECT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SPLITS="${MENTALGLM_DATA_SPLITS:-[train,val,test]}"
mkdir -p "$ROOT"
cd "$ROOT"   # the data configs' relative paths (data/raw, data/cimhi, data/imhi) land under ROOT
mentalglm data fetch "$PROJECT/configs/data/fetch.yaml" ${MENTALGLM_DATA_MIRROR:+--from "$MENTALGLM_DATA_MIRROR"} "splits=$SPLITS" \
    "allow_modified_mirror=${MENTALGLM_ALLOW_MODIFIED_MIRROR:-false}"
mentalglm data build "$PROJECT/configs/data/cimhi.yaml" "splits=$SPLITS"
mentalglm data build "$PROJECT/configs/data/imhi.yaml" "splits=$SPLITS"
