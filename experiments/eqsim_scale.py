"""Issue 11 item 5: how large are EqSim's raw batch means, per score normalisation and batch size?

  python experiments/eqsim_scale.py [--batches 5] [--start experiments/cache/pretrain-*/...pt]

Three sources of (image, caption) embeddings, each at batch 32 / 64 / 128 / 256, EqSim's
defaults otherwise (top-8 close set, hybrid mode):
* random: unit vectors in 64 dimensions (eqvl-tiny-rn's embedding size), logit scale 1/0.07
  (open_clip's initial value) and 100 (a trained CLIP's clamp);
* tiny random-init: the demo's model, untrained, on the demo's training images and captions;
* tiny pre-trained: the demo's pre-trained start (found in experiments/cache after
  `eqsim_study.py prepare`), with its learned logit scale.
Prints a markdown table: mean over `--batches` disjoint batches of v1, v2 text side, v2 image side.
"""
from __future__ import annotations

import argparse
import csv
import glob
from pathlib import Path

import torch
import torch.nn.functional as F
from PIL import Image

from eqvl.losses.eqsim import TERMS, close_set, eqsim_terms, normalise

HERE = Path(__file__).resolve().parent
BATCHES = (32, 64, 128, 256)
NORMS = ("softmax", "sigmoid", "none")


def terms_for(img: torch.Tensor, txt: torch.Tensor, scale: float, norm: str, n: int, batches: int) -> list[float]:
    """Mean over `batches` disjoint batches of size `n` of each raw EqSim batch mean."""
    sums = [0.0] * len(TERMS)
    for b in range(batches):
        i, t = img[b * n:(b + 1) * n], txt[b * n:(b + 1) * n]
        sim = normalise(i @ t.T, torch.tensor(scale), norm)
        terms = eqsim_terms(sim, close_set(sim, 8))
        for k, name in enumerate(TERMS):
            sums[k] += float(terms[name]) / batches
    return sums


def demo_embeddings(model_cfg: Path, ckpt: str, data: Path, count: int) -> tuple[torch.Tensor, torch.Tensor, float]:
    from eqvl.models import load_encoder

    enc = load_encoder(str(model_cfg), ckpt)
    with open(data / "train.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    g = torch.Generator().manual_seed(0)
    pick = torch.randperm(len(rows), generator=g)[:count].tolist()  # shuffled, as training batches are
    pixels = torch.stack([enc.preprocess(Image.open(data / rows[i]["filepath"]).convert("RGB")) for i in pick])
    img = torch.cat([enc.encode_images(pixels[s:s + 256]) for s in range(0, count, 256)])
    txt = torch.cat([enc.encode_texts([rows[i]["title"] for i in pick[s:s + 256]]) for s in range(0, count, 256)])
    scale = float(enc.model.logit_scale.detach().exp().clamp(max=100))
    return img.float(), txt.float(), scale


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--batches", type=int, default=5)
    ap.add_argument("--start", default=None, help="the demo's pre-trained checkpoint (default: found in experiments/cache)")
    args = ap.parse_args()
    need = max(BATCHES) * args.batches
    g = torch.Generator().manual_seed(0)
    sources = []
    rnd_i, rnd_t = (F.normalize(torch.randn(need, 64, generator=g), dim=-1) for _ in range(2))
    sources += [("random, 64-d", 1 / 0.07, rnd_i, rnd_t), ("random, 64-d", 100.0, rnd_i, rnd_t)]
    model_cfg = next(iter(sorted((HERE / "cache").glob("model-*.json"))), None)
    data = next(iter(sorted((HERE / "cache").glob("data-*/train.csv"))), None)
    start = args.start or next(iter(sorted(glob.glob(str(HERE / "cache/pretrain-*/**/*.pt"), recursive=True))), None)
    if model_cfg and data:
        img, txt, scale = demo_embeddings(model_cfg, "none", data.parent, need)
        sources.append(("demo model, random init", scale, img, txt))
        if start:
            img, txt, scale = demo_embeddings(model_cfg, start, data.parent, need)
            sources.append(("demo model, pre-trained start", scale, img, txt))
    print(f"mean over {args.batches} batches; top-8 close set; cells: v1 / v2 text / v2 image\n")
    print("| embeddings | logit scale | norm | " + " | ".join(f"batch {n}" for n in BATCHES) + " |")
    print("|---|---:|---|" + "---:|" * len(BATCHES))
    shown_none = set()
    for name, scale, img, txt in sources:
        for norm in NORMS:
            if norm == "none" and name in shown_none:
                continue  # the cosine does not depend on the logit scale
            shown_none.add(name) if norm == "none" else None
            cells = [" / ".join(f"{v:.2g}" for v in terms_for(img, txt, scale, norm, n, args.batches)) for n in BATCHES]
            shown = "—" if norm == "none" else f"{scale:.1f}"
            print(f"| {name} | {shown} | {norm} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
