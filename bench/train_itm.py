"""The ITM row of bench/bench_train.py (`itm_rows`): step time of an ITM model's training
(`--model hf-itm:DIR`) and the close cache's build cost, measured side by side in one run.

A random BlipForImageTextRetrieval built from a transformers config (tests/helpers/scorers.py's tiny one,
or wider / deeper with --itm-hidden / --itm-layers / --itm-image-size) trains on synthetic 64 px shapes
with `eqvl.train.train`; every optimiser step is timed through the step hook (median of the timed steps,
fastest of interleaved rounds). Printed: the ITM forwards (scored pairs) per step, which set the cost —
in-batch: N positives + up to 2 N K negatives; close cache: N (1 + K) images through the vision tower
and N (1 + 2K) pairs (+ N K with EqSim, each negative's own pair). EqSim adds no forward on in-batch
negatives; ce adds the encoding of each row's hard negatives through the text encoder (ITC side).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch

from eqvl.losses.itm import sample_pairs
from eqvl.train import TrainConfig, train


def add_itm_args(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--itm-batch-size", type=int, default=16)
    ap.add_argument("--itm-negatives", type=int, default=15)
    ap.add_argument("--itm-steps", type=int, default=3)
    ap.add_argument("--itm-rounds", type=int, default=2)
    ap.add_argument("--itm-hidden", type=int, default=32)
    ap.add_argument("--itm-layers", type=int, default=2)
    ap.add_argument("--itm-image-size", type=int, default=32)
    ap.add_argument("--itm-close-images", type=int, default=16, help="close images per image of the cache")
    ap.add_argument("--precision", default="fp32", help="ITM runs' precision")
    ap.add_argument("--no-itm", action="store_true", help="leave the ITM row out")
    ap.add_argument("--only-itm", action="store_true", help="only the ITM row")


def blip_dir(root: Path, hidden: int, layers: int, image_size: int) -> Path:
    import transformers

    from tests.helpers import scorers as F

    torch.manual_seed(0)
    tok = F.bert_tokenizer(root / "_vocab")
    text = dict(vocab_size=len(tok), hidden_size=hidden, intermediate_size=4 * hidden, num_hidden_layers=layers,
                num_attention_heads=max(2, hidden // 64), max_position_embeddings=40, encoder_hidden_size=hidden,
                pad_token_id=0, bos_token_id=2, sep_token_id=3)
    vision = dict(hidden_size=hidden, intermediate_size=4 * hidden, num_hidden_layers=layers,
                  num_attention_heads=max(2, hidden // 64), image_size=image_size, patch_size=max(8, image_size // 8))
    cfg = transformers.BlipConfig(text_config=text, vision_config=vision, image_text_hidden_size=min(hidden, 256),
                                  projection_dim=min(hidden, 256))
    out = root / "blip"
    transformers.BlipForImageTextRetrieval(cfg).save_pretrained(out)
    tok.save_pretrained(out)
    transformers.BlipImageProcessor(size={"height": image_size, "width": image_size}).save_pretrained(out)
    return out


def run(model: Path, csv: Path, out: Path, args, loss: str, **kw) -> float:
    times: list[float] = []
    last = [time.perf_counter()]

    def hook(rec):
        now = time.perf_counter()
        times.append(now - last[0])
        last[0] = now

    cfg = TrainConfig.from_dict(dict(
        model=f"hf-itm:{model}", train_data=str(csv), output=str(out), epochs=1, batch_size=args.itm_batch_size,
        max_steps=args.warmup + args.itm_steps, log_every=1, progress=False, lr=1e-5, preload=True,
        train_augment=False, overwrite=True, device=args.device, loss=loss, itm_negatives=args.itm_negatives,
        eqsim_k=min(8, args.itm_negatives), max_hard_negatives=2, precision=args.precision, **kw))
    train(cfg, on_step=hook)
    return statistics.median(times[args.warmup:])


def close_cache_cost(model: Path, csv: Path, out: Path, args) -> tuple[float, int, int]:
    """(seconds per image, images, close captions per image) of building the --close-cache."""
    from eqvl.train.close_cache import load_or_build
    from eqvl.train.itm_model import build_itm_bundle
    from eqvl.train.records import read_pairs

    rows = read_pairs(str(csv), TrainConfig(train_data=str(csv), model="x"))[0]
    dev = torch.device("cuda" if args.device != "cpu" and torch.cuda.is_available() else "cpu")
    bundle = build_itm_bundle(f"hf-itm:{model}", ("itm",), dev, 0)
    t0 = time.perf_counter()
    cache = load_or_build(str(out), bundle, rows, args.itm_close_images, True, False)
    return (time.perf_counter() - t0) / len(cache.neighbours), len(cache.neighbours), cache.neighbours.shape[1]


def itm_rows(args, root: Path) -> None:
    from tests.helpers.train import make_csv

    b, k = args.itm_batch_size, args.itm_negatives
    model = blip_dir(root / "itm", args.itm_hidden, args.itm_layers, args.itm_image_size)
    csv = make_csv(root / "itm", n=max(b * (args.warmup + args.itm_steps), args.itm_close_images + 1))
    cache = root / "itm" / "close.npz"
    pairs = int(sample_pairs(b, k, generator=torch.Generator().manual_seed(0)).sum())
    dev = torch.cuda.get_device_name() if torch.cuda.is_available() and args.device != "cpu" else "cpu"
    print(f"\nITM: BLIP hidden {args.itm_hidden} x {args.itm_layers} layers, {args.itm_image_size} px; batch {b}, "
          f"--itm-negatives {k}: in-batch {pairs} ITM forwards per step, close cache {b * (1 + 2 * k)} "
          f"(+{b * k} with eqsim) and {b * (1 + k)} images; {dev}, {args.precision}; median of {args.itm_steps} "
          f"steps, fastest of {args.itm_rounds} interleaved rounds")
    variants = {"itm": ("itm", {}), "itm+eqsim": ("itm+eqsim", {}), "itm+eqsim+ce": ("itm+eqsim+ce", {}),
                "itm+eqsim, close-cache negatives": ("itm+eqsim", {"close_cache": str(cache),
                                                                   "close_images": args.itm_close_images})}
    samples: dict[str, list[float]] = {v: [] for v in variants}
    per_image: list[float] = []
    for _ in range(args.itm_rounds):
        for name, (loss, kw) in variants.items():
            samples[name].append(run(model, csv, root / "itm" / "run", args, loss, **kw))
        per, images, width = close_cache_cost(model, csv, root / "itm" / "timed.npz", args)
        per_image.append(per)
    base = min(samples["itm"])
    print(f"{'loss':34s} {'step s':>8s} {'vs itm':>8s}")
    for name, xs in samples.items():
        print(f"{name:34s} {min(xs):8.3f} {min(xs) / base:8.3f}")
    per = min(per_image)
    print(f"close cache build: {images} images x {width} close captions: {per * 1e3:.1f} ms per image "
          f"({per / width * 1e3:.2f} ms per ITM pair) = {per / (base / b):.2f}x an itm training step's time per anchor")
