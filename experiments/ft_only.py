"""Fine-tune one variant from a cached pre-trained start and evaluate it.

  python experiments/ft_only.py NAME LOSS '{"eqsim_alpha": 0.0}' [STEPS] [LR] [CACHE DATA PRETRAIN MODEL]

Default start: round 1's A (48 px) in experiments/cache.
"""
import json
import sys
from pathlib import Path

from eqvl.demo import steps
from eqvl.demo.config import PhaseConfig, preset

root = Path(__file__).parent / "cache"
name, loss = sys.argv[1], sys.argv[2]
options = json.loads(sys.argv[3]) if len(sys.argv) > 3 else {}
n_steps = int(sys.argv[4]) if len(sys.argv) > 4 else 80
lr = float(sys.argv[5]) if len(sys.argv) > 5 else 5e-4
data_name, pre_name, model_name = "data-9dbbef9c8e99", "pretrain-98ca3ac19956", "model-9921d4422364.json"
if len(sys.argv) > 9:
    root = Path(sys.argv[6])
    data_name, pre_name, model_name = sys.argv[7:10]
data = root / data_name
pre = root / pre_name
cfg = preset()
cfg.synth = {"train": 6000}
work = Path(__file__).parent / "out" / "ft_only" / name
work.mkdir(parents=True, exist_ok=True)
info = steps.train_phase(cfg, work / "train", data, root / model_name,
                         pre / json.loads((pre / "step.json").read_text())["info"]["checkpoint"], loss,
                         PhaseConfig(steps=n_steps, batch_size=128, lr=lr), 0, options, progress=False)
steps.evaluate_checkpoint(cfg, work, data, root / model_name, work / "train" / info["checkpoint"], progress=False)
print(name, loss, options, "done")
