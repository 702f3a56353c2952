#!/bin/sh
# Issue 11 item 6: wall and CPU time of one full `eqvl demo` from an empty cache, run from a snapshot
# of the source (git archive + the preset under test) so that other work in the tree cannot change it.
#   experiments/demo_timing.sh NAME SNAPSHOT_DIR     (log: experiments/logs/demo_timing_NAME.log)
set -eu
name=$1; snap=$2
here=$(cd "$(dirname "$0")" && pwd)
log=$here/logs/demo_timing_$name.log
rm -rf "/tmp/demo_run_$name"
{
  echo "start $(date -u +%H:%M:%S) load: $(cat /proc/loadavg)"
  echo "preset: finetune $(grep -o 'finetune=PhaseConfig([^)]*)' "$snap/src/eqvl/demo/config.py" | tail -1)"
  cd "$snap" && PYTHONPATH="$snap/src" /usr/bin/time -v "$here/../.venv/bin/eqvl" demo --out "/tmp/demo_run_$name" --no-progress
  echo "end $(date -u +%H:%M:%S) load: $(cat /proc/loadavg)"
} > "$log" 2>&1
