#!/usr/bin/env bash
# VNN-COMP tool interface, version v1:
#   run_instance.sh v1 <category> <onnx file> <vnnlib file> <result file> <timeout seconds>
# Runs `certkit verify` and leaves sat/unsat/timeout/unknown/error (and a counterexample
# after sat) in the result file. The interpreter's start-up is taken off the timeout
# (CERTKIT_STARTUP_SLACK seconds, default 3); a hard limit of timeout + 10 s stops a hang.
set -u
if [ "$#" -ne 6 ] || [ "$1" != "v1" ]; then
    echo "usage: $0 v1 <category> <onnx> <vnnlib> <result file> <timeout>" >&2
    exit 1
fi
CATEGORY=$2 ONNX=$3 VNNLIB=$4 RESULT=$5 TIMEOUT=$6
HERE=$(cd "$(dirname "$0")" && pwd)
CERTKIT=${CERTKIT:-$HERE/../.venv/bin/certkit}
SLACK=${CERTKIT_STARTUP_SLACK:-3}
INNER=$(awk -v t="$TIMEOUT" -v s="$SLACK" 'BEGIN { v = t - s; if (v < 1) v = 1; print v }')
HARD=$(awk -v t="$TIMEOUT" 'BEGIN { printf "%d", t + 10 }')
PIDFILE=${TMPDIR:-/tmp}/certkit-vnncomp-$(id -u).pid

echo "certkit: category $CATEGORY, $ONNX, $VNNLIB, timeout $TIMEOUT s"
rm -f "$RESULT"
timeout --signal=KILL "$HARD" "$CERTKIT" verify "$ONNX" "$VNNLIB" --timeout "$INNER" \
    --out "$RESULT" &
echo $! > "$PIDFILE"
wait $!
rc=$?
rm -f "$PIDFILE"
if [ ! -s "$RESULT" ]; then
    if [ "$rc" -eq 137 ] || [ "$rc" -eq 124 ]; then echo timeout > "$RESULT"; else echo error > "$RESULT"; fi
fi
exit 0
