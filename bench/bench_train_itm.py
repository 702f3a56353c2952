"""Step time of an ITM model's training (`--model hf-itm:DIR`): itm vs itm+eqsim vs itm+eqsim+ce.

    .venv/bin/python bench/bench_train_itm.py [--batch-size 32] [--negatives 15] [--steps 4] [--device auto]
        [--hidden 32 --layers 2 --image-size 32]   # the tiny test config; larger for a GPU run

A random BlipForImageTextRetrieval built from a transformers config (tests/scorer_fixtures.py's
tiny one, or wider / deeper with the flags) trains on synthetic 64 px shapes with `eqvl.train.train`;
every optimiser step is timed through the step hook (median of the timed steps, fastest of
interleaved rounds). Also printed: the ITM forwards (scored pairs) per step, which set the cost:
N positives + up to 2 N K negatives. EqSim adds no forward (it reuses the scored grid); ce adds
the encoding of each row's hard negatives through the text encoder (ITC side). Last: the cost of
building the `--close-cache` per training row.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from train_helpers import make_csv  # noqa: E402

from eqvl.losses.itm import sample_pairs  # noqa: E402
from eqvl.train import TrainConfig, train  # noqa: E402


def blip_dir(root: Path, hidden: int, layers: int, image_size: int) -> Path:
    import transformers

    import scorer_fixtures as F

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


def run(model: Path, csv: Path, out: Path, args, loss: str) -> float:
    times: list[float] = []
    last = [time.perf_counter()]

    def hook(rec):
        now = time.perf_counter()
        times.append(now - last[0])
        last[0] = now

    cfg = TrainConfig.from_dict(dict(
        model=f"hf-itm:{model}", train_data=str(csv), output=str(out), epochs=1, batch_size=args.batch_size,
        max_steps=args.warmup + args.steps, log_every=1, progress=False, lr=1e-5, preload=True, train_augment=False,
        overwrite=True, device=args.device, loss=loss, itm_negatives=args.negatives, eqsim_k=min(8, args.negatives),
        max_hard_negatives=2, precision=args.precision))
    train(cfg, on_step=hook)
    return statistics.median(times[args.warmup:])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--negatives", type=int, default=15)
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--hidden", type=int, default=32)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--image-size", type=int, default=32)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--precision", default="fp32")
    ap.add_argument("--close-images", type=int, default=64, help="close images per row for the cache timing")
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench_train_itm_"))
    model = blip_dir(root, args.hidden, args.layers, args.image_size)
    n_rows = args.batch_size * (args.warmup + args.steps)
    csv = make_csv(root, n=n_rows)
    pairs = int(sample_pairs(args.batch_size, args.negatives, generator=torch.Generator().manual_seed(0)).sum())
    dev = torch.cuda.get_device_name() if torch.cuda.is_available() and args.device != "cpu" else "cpu"
    print(f"BLIP hidden {args.hidden} x {args.layers} layers, {args.image_size} px; batch {args.batch_size}, "
          f"--itm-negatives {args.negatives}: {pairs} ITM forwards per step ({pairs / args.batch_size:.1f} per row); "
          f"{dev}, {args.precision}; median of {args.steps} steps, fastest of {args.rounds} interleaved rounds")
    variants = ("itm", "itm+eqsim", "itm+eqsim+ce")
    samples: dict[str, list[float]] = {v: [] for v in variants}
    for _ in range(args.rounds):
        for v in variants:
            samples[v].append(run(model, csv, root / "run", args, v))
    base = min(samples["itm"])
    print(f"\n{'loss':16s} {'step s':>8s} {'vs itm':>8s}")
    for v in variants:
        print(f"{v:16s} {min(samples[v]):8.3f} {min(samples[v]) / base:8.3f}")
    close_cache_cost(model, csv, args)


def close_cache_cost(model: Path, csv: Path, args) -> None:
    """Seconds per training row of building the --close-cache (vision pass + C ITM pairs per row)."""
    from eqvl.train.close_cache import build
    from eqvl.train.itm_model import build_itm_bundle
    from eqvl.train.records import read_pairs

    rows = read_pairs(str(csv), TrainConfig(train_data=str(csv), model="x"))[0]
    dev = torch.device("cuda" if args.device != "cpu" and torch.cuda.is_available() else "cpu")
    bundle = build_itm_bundle(f"hf-itm:{model}", ("itm",), dev, 0)
    c = min(args.close_images, len(rows) - 1)
    t0 = time.perf_counter()
    build(bundle, rows, c, progress=False)
    per = (time.perf_counter() - t0) / len(rows)
    print(f"\nclose cache: {len(rows)} rows x {c} close images: {per * 1e3:.1f} ms per row "
          f"({per / c * 1e3:.2f} ms per ITM pair)")


if __name__ == "__main__":
    main()
