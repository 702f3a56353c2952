"""Group score of cached twin scores split by the synth `change` field (attribute: swap vs change)."""
import json, sys
from pathlib import Path
import numpy as np
from eqvl.metrics import winoground_scores
data_dir, folders = Path(sys.argv[1]), sys.argv[2:]
change = {}
for line in open(data_dir / "twins.jsonl"):
    r = json.loads(line)
    c = r.get("change", {})
    change[r["id"]] = r["subset"] + ":" + (c.get("change") or c.get("kind") or "") if isinstance(c, dict) else r["subset"]
for f in folders:
    z = np.load(Path(f) / "twins.npz")
    g = winoground_scores(z["scores"])["group"]
    keys = np.array([change[i] for i in z["ids"]])
    print(Path(f).name, "  ".join(f"{k} {g[keys == k].mean()*100:.0f}% (n={int((keys == k).sum())})" for k in sorted(set(keys))))
