#!/bin/bash
# Round 1 of the design experiments (1 seed, 1 torch thread each because the 2 cores are shared):
# A = 48 px, B = 64 px; same data recipe, schedule and variants.
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS=1
COMMON='"pretrain": {"steps": 400, "batch_size": 128, "lr": 0.002, "warmup": 50}, "finetune": {"steps": 80, "batch_size": 128, "lr": 0.0005}'
A='{"synth": {"train": 6000, "twins": 100, "size": 48}, "model_vision": {"image_size": 48}, '"$COMMON"'}'
B='{"synth": {"train": 6000, "twins": 100, "size": 64}, "model_vision": {"image_size": 64}, '"$COMMON"'}'
.venv/bin/python experiments/run_config.py r1_A_48px "$A" > experiments/logs/r1_A_48px.log 2>&1 &
sleep 240  # let A's data step finish before B starts its own (different cache keys, but less CPU overlap)
.venv/bin/python experiments/run_config.py r1_B_64px "$B" > experiments/logs/r1_B_64px.log 2>&1 &
wait
