#!/usr/bin/env bash
# VNN-COMP tool interface, version v1: install_tool.sh v1
# Creates ../.venv with certkit and its verification dependencies (CPU torch).
set -eu
if [ "$#" -ne 1 ] || [ "$1" != "v1" ]; then
    echo "usage: $0 v1" >&2
    exit 1
fi
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
python3 -m venv .venv
.venv/bin/pip install --quiet -c constraints.txt torch==2.13.0
.venv/bin/pip install --quiet -c constraints.txt -e . onnx onnxruntime highspy
