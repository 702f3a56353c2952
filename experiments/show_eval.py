"""Print the twin group scores per subset and triplet accuracies of cached evaluation folders."""
import json, sys
from pathlib import Path
for folder in sys.argv[1:]:
    f = Path(folder)
    tw = json.loads((f / "twins.json").read_text()); tr = json.loads((f / "triplets.json").read_text())
    subs = "  ".join(f"{s}: t{v['text']*100:.0f}/i{v['image']*100:.0f}/g{v['group']*100:.0f}" for s, v in tw["subsets"].items())
    trip = "  ".join(f"{k} {tr['metrics'][k]*100:.1f}" for k in ("orig_acc", "aug_acc", "joint_acc"))
    print(f"{f.name}: {subs} | group {tw['metrics']['group']*100:.1f} | {trip}")
