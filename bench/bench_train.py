"""Step time of itc vs itc+eqsim vs itc+eqsim+ce, the data-wait fraction, and the ITM row: itm vs
itm+eqsim vs itm+eqsim+ce on a tiny BLIP, and the close cache's build cost per image.

    .venv/bin/python bench/bench_train.py [--batch-size 256] [--steps 4] [--model eqvl-tiny-rn]
    .venv/bin/python bench/bench_train.py --only-itm [--itm-batch-size 16] [--itm-negatives 15] \
        [--itm-hidden 32 --itm-layers 2 --itm-image-size 32]   # the tiny test config; larger on a GPU

Trains on synthetic 64 px images (made in a temp dir) with `eqvl.train.train`, timing every
optimiser step through the step hook. Two views of the extra losses' cost:
  * full step: model forward + backward + optimiser, as a user pays it (ce also encodes each
    row's hard negatives, K times more captions: that cost belongs to CE-CLIP's data, not its loss);
  * loss only: the combined loss forward + backward on features of the same batch size.
Data wait: fraction of the step spent waiting for the DataLoader, decoding + augmenting PNGs on
the fly (no preload) with 0 and 2 workers, against the preloaded run.
ITM row (`train_itm.itm_rows`, bench/train_itm.py, one run, interleaved rounds): a random BlipForImageTextRetrieval built from
a transformers config trains with `--model hf-itm:DIR`; itm, itm+eqsim, itm+eqsim+ce with in-batch
negatives, itm+eqsim with negatives drawn from a close cache (the paper's recipe: K more images per
anchor), each as a ratio to itm; then the close cache's build cost per image, as a ratio to an itm
training step's time per anchor.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: tests.helpers.*
sys.path.insert(0, str(Path(__file__).resolve().parent))
from tests.helpers.train import make_csv  # noqa: E402

from eqvl.losses import LossBatch  # noqa: E402
from eqvl.train import TrainConfig, build_loss, train  # noqa: E402


def run(csv: Path, out: Path, args, **kw) -> dict:
    times: list[float] = []
    waits: list[float] = []
    last = [time.perf_counter()]

    def hook(rec):
        now = time.perf_counter()
        times.append(now - last[0])
        waits.append(rec["data_wait"])
        last[0] = now

    cfg = TrainConfig(model=args.model, pretrained="none", train_data=str(csv), output=str(out), epochs=1,
                      batch_size=args.batch_size,
                      max_steps=args.warmup + args.steps, log_every=1, progress=False, lr=1e-4, eqsim_k=8,
                      max_hard_negatives=2, overwrite=True, device=args.device, **kw)
    train(cfg, on_step=hook)
    t = times[args.warmup:]
    return {"step_s": statistics.median(t), "wait": statistics.mean(waits[args.warmup:])}


def loss_only(spec: str, n: int, k: int, d: int, reps: int = 20) -> float:
    g = torch.Generator().manual_seed(0)
    feats = [torch.randn(n, d, generator=g), torch.randn(n, d, generator=g), torch.randn(n, k, d, generator=g)]
    loss_fn = build_loss(TrainConfig(loss=spec, train_data="x", loss_options={"eqsim_k": 8}), n_types=3)
    best = []
    for _ in range(reps):
        leaves = [f.clone().requires_grad_(True) for f in feats]
        img, txt, neg = (F.normalize(x, dim=-1) for x in leaves)
        b = LossBatch(image=img, text=txt, logit_scale=torch.tensor(14.3), neg=neg,
                      neg_mask=torch.ones(n, k, dtype=torch.bool), neg_type=torch.zeros(n, k, dtype=torch.long))
        t0 = time.perf_counter()
        total, _ = loss_fn(b)
        total.backward()
        best.append(time.perf_counter() - t0)
    return min(best)


def guard_cost(model_name: str, reps: int = 20) -> float:
    """Seconds per step of the non-finite checks (gradient norm over every parameter + loss terms),
    on gradients of the real model's shapes: what the guard adds to a step without --grad-clip-norm."""
    from eqvl.models.openclip import create_openclip
    from eqvl.train.guards import NonFiniteGuard, grad_norm

    params = list(create_openclip(model_name, "none").model.parameters())
    for p in params:
        p.grad = torch.randn_like(p)
    parts = {"loss": torch.tensor(2.0), "itc": torch.tensor(1.5), "eqsim": torch.tensor(0.5)}
    guard = NonFiniteGuard(0)
    best = []
    for _ in range(reps):
        t0 = time.perf_counter()
        guard.problem(parts, grad_norm(params, None))
        best.append(time.perf_counter() - t0)
    return min(best)


def main() -> None:
    from train_itm import add_itm_args, itm_rows

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=3, help="interleaved repetitions; the fastest median is kept")
    ap.add_argument("--model", default="eqvl-tiny-rn")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0: torch's default)")
    add_itm_args(ap)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    root = Path(tempfile.mkdtemp(prefix="bench_train_"))
    if args.only_itm:
        itm_rows(args, root)
        return
    n_rows = args.batch_size * (args.warmup + args.steps)
    csv = make_csv(root, n=n_rows)
    print(f"{n_rows} synthetic rows, batch {args.batch_size}, model {args.model}, {args.steps} timed steps "
          f"(median per run, fastest of {args.rounds} interleaved runs), torch threads {torch.get_num_threads()}")

    variants = [("itc", {}), ("itc+eqsim", {}), ("itc (+hard negatives encoded)", {"itc_hard_negatives": "on"}),
                ("itc+eqsim+ce", {})]
    # rounds interleave the variants so that load from other processes hits them alike
    samples: dict[str, list[dict]] = {name: [] for name, _ in variants}
    for _ in range(args.rounds):
        for name, kw in variants:
            spec = name.split(" ")[0]
            samples[name].append(run(csv, root / "run", args, loss=spec, preload=True, train_augment=False, **kw))
    res = {name: {"step_s": min(r["step_s"] for r in rs), "wait": statistics.mean(r["wait"] for r in rs)}
           for name, rs in samples.items()}
    base = res["itc"]["step_s"]
    print(f"\n{'loss':32s} {'step s':>8s} {'vs itc':>8s}")
    for name, r in res.items():
        print(f"{name:32s} {r['step_s']:8.3f} {r['step_s'] / base:8.3f}")
    print(f"ce's loss terms alone vs itc with the same hard negatives encoded: "
          f"{res['itc+eqsim+ce']['step_s'] / res['itc (+hard negatives encoded)']['step_s']:.3f}")

    print(f"\nloss forward+backward only (batch {args.batch_size}, 2 hard negatives, dim 64):")
    lo = {s: loss_only(s, args.batch_size, 2, 64) for s in ("itc", "itc+eqsim", "itc+eqsim+ce")}
    for s, t in lo.items():
        print(f"  {s:16s} {t * 1e3:8.2f} ms   extra over itc = {(t - lo['itc']) / base:.2%} of an itc training step")

    g = guard_cost(args.model)
    print(f"\nnon-finite guard (gradient norm + loss terms): {g * 1e3:.2f} ms = {g / base:.2%} of an itc training step")

    print("\ndata-wait fraction (itc, PNG decode + augmentation on the fly):")
    for workers in (0, 2):
        r = run(csv, root / "run", args, loss="itc", preload=False, train_augment=True, workers=workers)
        print(f"  workers={workers}: wait {r['wait']:.1%} of the step, step {r['step_s']:.3f} s")
    print(f"  preloaded:  wait {res['itc']['wait']:.1%}")
    if not args.no_itm:
        itm_rows(args, root)


if __name__ == "__main__":
    main()
