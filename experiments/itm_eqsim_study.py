"""Issue 22: does EqSim help an image-text matching (ITM) head at toy scale?

A tiny random BlipForImageTextRetrieval (config below, no download) is pre-trained on eqvl's
synthetic scenes with `itm+itc`, then fine-tuned from that one start with `itm` or `itm+eqsim`
(the paper's METER recipe: negatives drawn from the close cache, top-k close set, sigmoid scores),
3 seeds each; every fine-tune is scored by its ITM head on validation twins (synth seed 1: EqSim's beta is chosen
there) and on test twins (synth seed 0, held out from training), EqBen-style text / image / group.

  python experiments/itm_eqsim_study.py prepare          # data, tiny model, pre-training (cached)
  python experiments/itm_eqsim_study.py run LABEL SEED   # one fine-tune + val/test evaluation
  python experiments/itm_eqsim_study.py sweep            # every run not done yet, one process each
  python experiments/itm_eqsim_study.py table            # table + verdict (markdown)

Results: experiments/results/itm_eqsim_study/LABEL-sSEED.json; logs: experiments/logs/itm_eqsim_study*.log.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
WORK = HERE / "out" / "itm_eqsim_study"
RESULTS = HERE / "results" / "itm_eqsim_study"
SEEDS = (0, 1, 2)
BETAS = (0.5, 1.0)
SYNTH = dict(train=1600, twins=100, size=32)  # twins per subset (location, counting, attribute)
PRETRAIN = dict(loss="itm+itc", epochs=16, batch_size=32, lr=5e-4, wd=0.05, warmup=30, itm_negatives=3)
FINETUNE = dict(epochs=2, batch_size=32, lr=1e-4, wd=0.05, warmup=8, itm_negatives=7, eqsim_k=4, eqsim_alpha=0.0,
                close_images=16)


def labels() -> list[str]:
    return ["itm"] + [f"eqsim_b{b:g}" for b in BETAS]


def loss_of(lab: str) -> dict:
    if lab == "itm":
        return {"loss": "itm"}
    return {"loss": "itm+eqsim", "eqsim_beta": float(lab.removeprefix("eqsim_b"))}


def _cpu() -> float:
    r, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime + c.ru_utime + c.ru_stime


def _synth(folder: Path, train: int, seed: int) -> None:
    if (folder / "manifest.json").exists():
        return
    subprocess.run([sys.executable, "-m", "eqvl", "synth", "--output", str(folder), "--train", str(train),
                    "--twins", str(SYNTH["twins"]), "--size", str(SYNTH["size"]), "--seed", str(seed),
                    "--no-progress"], check=True)


def _words(folder: Path) -> set[str]:
    text = "".join(p.read_text() for p in (folder / "train.csv", folder / "twins.jsonl") if p.exists())
    return set(re.findall(r"[a-z]+", text.lower()))


def _tiny_blip(out: Path, words: set[str]) -> None:
    """BlipForImageTextRetrieval: 2-layer 64-wide vision (32 px, 8 px patches) and text/fusion towers."""
    import torch
    import transformers

    torch.manual_seed(0)
    out.mkdir(parents=True, exist_ok=True)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[DEC]", "[ENC]", ".", ",", *sorted(words)]
    (out / "vocab.txt").write_text("\n".join(vocab) + "\n")
    tok = transformers.BertTokenizer(str(out / "vocab.txt"), model_max_length=32)
    text = dict(vocab_size=len(vocab), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                num_attention_heads=4, max_position_embeddings=32, encoder_hidden_size=64, pad_token_id=0,
                bos_token_id=2, sep_token_id=3)
    vision = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                  image_size=SYNTH["size"], patch_size=8, initializer_range=0.02)  # BLIP vision default 1e-10: collapsed
    cfg = transformers.BlipConfig(text_config=text, vision_config=vision, image_text_hidden_size=32, projection_dim=32)
    model = transformers.BlipForImageTextRetrieval(cfg)
    with torch.no_grad():  # wider init (std 0.1, norms kept): at std 0.02 every caption's feature is the same
        for name, p in model.named_parameters():
            if p.ndim >= 2 and "norm" not in name.lower():
                p.normal_(0.0, 0.1)
    model.save_pretrained(out)
    tok.save_pretrained(out)
    transformers.BlipImageProcessor(size={"height": SYNTH["size"], "width": SYNTH["size"]}).save_pretrained(out)


def _train(model: str, data: Path, output: Path, seed: int, opts: dict) -> None:
    from eqvl.train import TrainConfig, train

    cfg = TrainConfig.from_dict(dict(model=f"hf-itm:{model}", train_data=str(data / "train.csv"), output=str(output),
                                     seed=seed, preload=True, train_augment=False, progress=False, precision="fp32",
                                     log_every=10, save_every_epochs=opts["epochs"], overwrite=True, **opts))
    train(cfg)


def cmd_prepare() -> None:
    t0 = time.time()
    _synth(WORK / "data", SYNTH["train"], 0)
    _synth(WORK / "val", 0, 1)
    blip = WORK / "blip-init"
    if not (blip / "config.json").exists():
        _tiny_blip(blip, _words(WORK / "data") | _words(WORK / "val"))
    pre = WORK / "pretrain"
    if not (pre / "final" / "config.json").exists():
        _train(str(blip), WORK / "data", pre, 0, PRETRAIN)
    print(f"prepared in {time.time() - t0:.0f}s wall, {_cpu():.0f}s CPU", flush=True)


def _score(model: Path, twins: Path) -> dict:
    from eqvl.evaluation import evaluate
    from eqvl.models import load_encoder

    res = evaluate(load_encoder(f"hf-itm:{model}"), "twins", twins, batch_size=64, progress=False)
    return {"metrics": res.results["metrics"], "subsets": res.results.get("subsets", {})}


def cmd_run(lab: str, seed: int) -> None:
    import shutil

    import torch

    from eqvl.io import write_json_atomic

    t0 = time.time()
    out = WORK / f"{lab}-s{seed}"
    # the paper's METER recipe: negatives drawn from the close cache (built by the first run, reused by the rest)
    _train(str((WORK / "pretrain" / "final").resolve()), WORK / "data", out, seed,
           FINETUNE | loss_of(lab) | {"close_cache": str(WORK / "close.npz")})
    final = (out / "final").resolve()
    record = {"label": lab, "seed": seed, "options": FINETUNE | loss_of(lab), "pretrain": PRETRAIN, "synth": SYNTH,
              "val": _score(final, WORK / "val" / "twins.jsonl"), "test": _score(final, WORK / "data" / "twins.jsonl"),
              "wall_s": time.time() - t0, "cpu_s": _cpu(), "threads": torch.get_num_threads()}
    curve = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines() if x.strip()]
    record["curve"] = [{k: v for k, v in m.items() if k in ("step", "loss", "itm", "eqsim", "eqsim_mse_v1",
                                                           "eqsim_mse_v2_text", "eqsim_mse_v2_image")} for m in curve]
    write_json_atomic(RESULTS / f"{lab}-s{seed}.json", record, overwrite=True)
    shutil.rmtree(out)
    g = record["test"]["metrics"]["group"]
    print(f"{lab} seed {seed}: test group {g:.3f}, val group {record['val']['metrics']['group']:.3f}, "
          f"{record['wall_s']:.0f}s wall, {record['cpu_s']:.0f}s CPU", flush=True)


def cmd_start() -> None:
    """The pre-trained start itself, scored like a fine-tune (reference row of the table)."""
    from eqvl.io import write_json_atomic

    start = (WORK / "pretrain" / "final").resolve()
    write_json_atomic(RESULTS / "start.json", {"label": "start", "seed": 0, "pretrain": PRETRAIN, "synth": SYNTH,
                                               "val": _score(start, WORK / "val" / "twins.jsonl"),
                                               "test": _score(start, WORK / "data" / "twins.jsonl")}, overwrite=True)


def cmd_sweep() -> None:
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    (HERE / "logs").mkdir(exist_ok=True)
    t0 = time.time()
    if not (RESULTS / "start.json").exists():
        cmd_start()
    for seed in SEEDS:
        for lab in labels():
            if (RESULTS / f"{lab}-s{seed}.json").exists():
                continue
            with open(HERE / "logs" / f"itm_eqsim_study_{lab}-s{seed}.log", "w") as log:
                print(f"{time.strftime('%H:%M:%S')} start {lab} seed {seed}", flush=True)
                subprocess.run([sys.executable, __file__, "run", lab, str(seed)], env=env, stdout=log,
                               stderr=subprocess.STDOUT, check=True)
    print(f"sweep done in {time.time() - t0:.0f}s wall, {_cpu():.0f}s CPU", flush=True)


def _load() -> dict[str, dict[int, dict]]:
    runs: dict[str, dict[int, dict]] = {}
    for path in sorted(RESULTS.glob("*.json")):
        rec = json.loads(path.read_text())
        runs.setdefault(rec["label"], {})[rec["seed"]] = rec
    return runs


def _ms(xs: list[float]) -> str:
    m = statistics.mean(xs)
    sd = statistics.stdev(xs) if len(xs) > 1 else 0.0
    return f"{100 * m:.1f} ± {100 * sd:.1f}"


def cmd_table() -> None:
    runs = _load()
    full = [lab for lab in labels() if len(runs.get(lab, {})) == len(SEEDS)]
    print("| setting | seeds | val group | test text | test image | test group | test eq. gap (image) | "
          "test group − itm (paired) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for lab in ["start", *labels()]:
        rs = runs.get(lab, {})
        if not rs:
            continue
        val = [r["val"]["metrics"]["group"] for r in rs.values()]
        t = {k: [r["test"]["metrics"][k] for r in rs.values()] for k in ("text", "image", "group")}
        diff = [rs[s]["test"]["metrics"]["group"] - runs["itm"][s]["test"]["metrics"]["group"]
                for s in rs if lab not in ("itm", "start") and s in runs.get("itm", {})]
        gap = [r["test"]["metrics"]["equivariance_image_mean"] for r in rs.values()]
        print(f"| {lab} | {len(rs)} | {_ms(val)} | {_ms(t['text'])} | {_ms(t['image'])} | {_ms(t['group'])} | "
              f"{statistics.mean(gap):.3f} | {_ms(diff) if diff else '–'} |")
    cands = [lab for lab in full if lab != "itm"]
    if cands and "itm" in full:
        best = max(cands, key=lambda lab: statistics.mean(r["val"]["metrics"]["group"] for r in runs[lab].values()))
        diff = [runs[best][s]["test"]["metrics"]["group"] - runs["itm"][s]["test"]["metrics"]["group"] for s in SEEDS]
        print(f"\nChosen on validation twins: **{best}**; test group − itm per seed: "
              f"{', '.join(f'{100 * d:+.1f}' for d in diff)} points (mean {100 * statistics.mean(diff):+.1f}).")


def main() -> None:
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("prepare")
    r = sub.add_parser("run")
    r.add_argument("label")
    r.add_argument("seed", type=int)
    sub.add_parser("sweep")
    sub.add_parser("table")
    args = ap.parse_args()
    {"prepare": cmd_prepare, "sweep": cmd_sweep, "table": cmd_table}.get(args.cmd, lambda: cmd_run(args.label, args.seed))()


if __name__ == "__main__":
    main()
