#!/usr/bin/env bash
# VNN-COMP tool interface, version v1:
#   prepare_instance.sh v1 <category> <onnx file> <vnnlib file>
# Stops a certkit run left over from a previous instance (recorded by run_instance.sh) and
# checks that the files can be read; certkit reads .onnx.gz / .vnnlib.gz directly.
set -u
if [ "$#" -ne 4 ] || [ "$1" != "v1" ]; then
    echo "usage: $0 v1 <category> <onnx> <vnnlib>" >&2
    exit 1
fi
ONNX=$3 VNNLIB=$4
PIDFILE=${TMPDIR:-/tmp}/certkit-vnncomp-$(id -u).pid
if [ -f "$PIDFILE" ]; then
    PID=$(cat "$PIDFILE")
    if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
        kill -TERM "$PID" 2>/dev/null  # `timeout` passes the signal on to certkit
        sleep 1
        kill -0 "$PID" 2>/dev/null && kill -KILL "$PID" 2>/dev/null
    fi
    rm -f "$PIDFILE"
fi
for f in "$ONNX" "$VNNLIB"; do
    if [ ! -r "$f" ]; then
        echo "cannot read $f" >&2
        exit 1
    fi
done
exit 0
