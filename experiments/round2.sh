#!/bin/bash
# Round 2: from the final default run's pre-trained start (demo_out/cache), fine-tune longer and
# with a higher lr (150 steps, lr 1e-3, seed 0) to see whether the C2 / C3 differences grow with budget.
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS=1
C=demo_out/cache
DATA=$(basename $(ls -d $C/data-*/ | while read d; do [ -f $d/twins_demo.jsonl ] && [ -f $d/step.json ] && echo $d; done | head -1))
PRE=$(basename $(ls -d $C/pretrain-*/ | grep -v partial | head -1))
MODEL=$(basename $(ls $C/model-*.json | head -1))
run() { .venv/bin/python experiments/ft_only.py "r2_$1" "$2" '{}' 150 0.001 $C $DATA $PRE $MODEL > "experiments/logs/r2_$1.log" 2>&1; }
run itc itc & run itc_ce itc+ce & wait
run itc_ce_hardpos itc+ce+hardpos & run itc_eqsim itc+eqsim & wait
