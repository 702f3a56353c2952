"""Pairs per second of eqvl's pair-scoring engine vs the reference codes' one-pair-at-a-time loop.

Two pair scorers, on tiny random-weight directories built offline (tests/helpers/scorers.py):
  BLIP-ITM   eqvl: `hf-itm:` through `evaluate` (pairs grouped by image, vision tower once per image,
             --batch-size pairs per forward)  vs  naive: per pair, processor + `model(use_itm_head=True)`
  VQAScore   eqvl: `vqascore:` (Qwen2-VL family, left-padded batches)  vs  naive: t2v_metrics's loop,
             per pair chat template + processor + `generate(max_new_tokens=1, output_scores=True)`
on N synthetic 2x2 twins (4 pairs each: the Winoground / EqBen cost). Both sides score the same
pairs; the script checks they agree (max |diff|) and prints the speed-up (goal >= 3x on CPU).

    PYTHONPATH=src .venv/bin/python bench/bench_pairs.py --n 24 --threads 1
Models are loaded once, untimed; eqvl's time includes reading the benchmark and planning pairs.
Each figure is the best of --repeats rounds (shared CPUs are noisy).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))  # the repository root: tests.helpers.*

from tests.helpers import scorers as F  # noqa: E402
from eqvl.evaluation import evaluate  # noqa: E402
from eqvl.models import load_encoder  # noqa: E402

#: (image, caption) pairs one item costs a pair scorer, and the released item counts we are sure of
PAIRS_PER_ITEM = {"winoground / eqben (2x2)": 4, "sugarcrepe (1 image, pos/neg)": 2, "valse (caption/foil)": 2,
                  "vl-checklist (pos/neg)": 2, "aro vg-relation (2 orders)": 2}
KNOWN_SIZES = {"winoground": (400, 4), "sugarcrepe": (7512, 2)}


def naive_itm(directory: Path):
    """The HF model card's loop: one (image, caption) pair per forward (models loaded once, untimed)."""
    import transformers

    model = transformers.BlipForImageTextRetrieval.from_pretrained(directory).eval()
    tok = transformers.AutoTokenizer.from_pretrained(directory)
    proc = transformers.AutoImageProcessor.from_pretrained(directory)
    return lambda pairs: _itm_loop(model, tok, proc, pairs)


def _itm_loop(model, tok, proc, pairs: list[tuple[str, str]]) -> np.ndarray:
    out = []
    for path, text in pairs:
        pixels = proc(images=Image.open(path).convert("RGB"), return_tensors="pt")["pixel_values"]
        ids = tok([text], return_tensors="pt")
        with torch.no_grad():
            logits = model(input_ids=ids["input_ids"], attention_mask=ids["attention_mask"], pixel_values=pixels,
                           use_itm_head=True).itm_score
        out.append(float(torch.softmax(logits, dim=-1)[0, 1]))
    return np.array(out)


def naive_vqa(directory: Path):
    """t2v_metrics's Qwen2-VL forward: per pair, chat template, processor, generate one token."""
    import transformers

    model = transformers.Qwen2VLForConditionalGeneration.from_pretrained(directory).eval()
    proc = transformers.AutoProcessor.from_pretrained(directory)
    return lambda pairs: _vqa_loop(model, proc, pairs)


def _vqa_loop(model, proc, pairs: list[tuple[str, str]]) -> np.ndarray:
    from eqvl.models.vqascore import qwen_resize

    yes = proc.tokenizer.encode("Yes", add_special_tokens=False)[0]
    out = []
    for path, text in pairs:
        image = Image.open(path).convert("RGB")
        h, w = qwen_resize(image.height, image.width, 28)
        image = image.resize((w, h))
        messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text":
                     f'Does this figure show "{text}"? Please answer Yes or No.'}]}]
        chat = proc.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        inputs = proc(text=[chat], images=[image], padding=True, return_tensors="pt", do_resize=False)
        with torch.no_grad():
            gen = model.generate(**inputs, max_new_tokens=1, temperature=1.0, do_sample=False, output_scores=True,
                                 return_dict_in_generate=True)
        out.append(float(torch.softmax(gen.scores[-1][0], dim=-1)[yes]))
    return np.array(out)


def engine(scorer, data: Path, batch_size: int) -> tuple[np.ndarray, list[tuple[str, str]]]:
    """eqvl end to end on the benchmark folder (read, plan pairs, decode, score, metrics), model loaded once."""
    res = evaluate(scorer, "twins", data, batch_size=batch_size, workers=0, progress=False)
    scores, pairs = [], []
    for item, s in zip(res.data.items, res.scores):
        for c, cap in enumerate(item.captions):
            for i, ref in enumerate(item.images):
                scores.append(s[c, i])
                pairs.append((ref.path, cap))
    return np.array(scores), pairs


def best(fn, repeats: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=24, help="2x2 twins (4 pairs each)")
    ap.add_argument("--batch-size", type=int, default=32, help="pairs per forward for eqvl")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--threads", type=int, default=None, help="torch intra-op threads (1 is steadier)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        data = F.twins(root / "twins", n=args.n)
        models = {"BLIP-ITM": (f"hf-itm:{F.blip_dir(root)}", naive_itm),
                  "VQAScore qwen2-vl": (f"vqascore:{F.qwen2vl_dir(root)}", naive_vqa)}
        print(f"{args.n} twins -> {4 * args.n} pairs; torch threads {torch.get_num_threads()}; "
              f"eqvl --batch-size {args.batch_size}")
        print("| scorer | eqvl pairs/s | naive pairs/s | speed-up | max abs diff |\n|---|--:|--:|--:|--:|")
        for label, (spec, naive) in models.items():
            scorer, loop = load_encoder(spec), naive(Path(spec.split(":", 1)[1]))  # loading is not timed
            _, pairs = engine(scorer, data, args.batch_size)  # warm-up: lazy imports, allocator
            loop(pairs[:4])
            t_eqvl, (ours, _) = best(lambda: engine(scorer, data, args.batch_size), args.repeats)
            t_naive, theirs = best(lambda: loop(pairs), args.repeats)
            n = len(pairs)
            print(f"| {label} | {n / t_eqvl:.1f} | {n / t_naive:.1f} | {t_naive / t_eqvl:.2f}x | "
                  f"{np.abs(ours - theirs).max():.1e} |")
        print("\npairs a pair scorer is asked for, per item:",
              ", ".join(f"{k}: {v}" for k, v in PAIRS_PER_ITEM.items()))
        print("whole benchmarks:", ", ".join(f"{k}: {n} items x {p} = {n * p} pairs" for k, (n, p) in KNOWN_SIZES.items()),
              "(the full caption x image matrix of Winoground would be 800 x 800 = 640000)")


if __name__ == "__main__":
    main()
