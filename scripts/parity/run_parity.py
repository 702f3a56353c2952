"""eqvl vs the benchmarks' reference code, side by side, on one small model and the same files.

    python scripts/parity/run_parity.py --workdir /tmp/parity \
        --clip-benchmark ~/src/CLIP_benchmark --aro ~/src/vision-language-models-are-bows \
        --valse ~/src/VALSE --sugarcrepe ~/src/sugar-crepe --eqben ~/src/EqBen

Each --<ref> is a local checkout of that repository (any left out is skipped). The script
writes small files in each benchmark's official layout (make_data.py), runs `eqvl eval` on
them (the CLI a user runs), runs the reference code on the same files and the same model
(references.py: only the model part is swapped in), and prints one markdown table with both
numbers per row. The model is an open_clip config shipped with eqvl at random init
(`--pretrained none`, seeded), so nothing is downloaded.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

import compositional  # noqa: E402
import make_data  # noqa: E402
import parity_hub  # noqa: E402
import references  # noqa: E402

from eqvl.benchmarks import get_benchmark  # noqa: E402
from eqvl.data.images import load_image  # noqa: E402
from eqvl.data.records import ImageRef  # noqa: E402
from eqvl.models.loading import load_encoder  # noqa: E402

#: eqvl's VALSE instrument name for each file stem VALSE's config.py uses
VALSE_NAMES = {"counting_hard": "counting-hard", "counting_adversarial": "counting-adversarial", "relation": "relations"}
EQBEN_NAMES = {"eqbenag": "ag", "eqbenyoucook2": "youcook2", "eqbengebc": "gebc", "eqbenkubric_loc": "kubric_location",
               "eqbenkubric_attr": "kubric_attribute", "eqbenkubric_cnt": "kubric_counting", "eqbensd": "sd"}


def eqvl_eval(args: argparse.Namespace, bench: str, data: Path, *extra: str) -> dict:
    """`eqvl eval` exactly as a user runs it; returns the results JSON."""
    out = args.workdir / "eqvl" / f"{bench}.json"
    cmd = [sys.executable, "-m", "eqvl", "eval", "--model", args.model, "--pretrained", "none", "--seed", str(args.seed),
           "--device", "cpu", "--precision", "fp32", "--no-cache", "--no-progress", "--overwrite",
           "--benchmark", bench, "--data", str(data), "--output", str(out), *extra]
    print("$", " ".join(cmd[2:]), file=sys.stderr)
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return json.loads(out.read_text(encoding="utf-8"))


def retrieval_rows(args, data: Path, encoder, rows: list) -> None:
    """CLIP_benchmark's zeroshot_retrieval fed eqvl's embeddings of the same files."""
    ann = data / "flickr30k_test_karpathy.txt"
    res = eqvl_eval(args, "retrieval", ann, "--option", "ties=strict")
    bench = get_benchmark("retrieval")
    loaded = bench.load(ann)
    pixels = [encoder.preprocess(load_image(ref)) for ref in loaded.meta["images"]]
    img = np.concatenate([encoder.encode_images(torch.stack(pixels[i:i + 64])).numpy() for i in range(0, len(pixels), 64)])
    texts = sorted(set(loaded.meta["captions"]))
    txt = encoder.encode_texts(texts).numpy()
    by_text = dict(zip(texts, txt))
    here = bench.evaluate_embeddings(loaded, img, np.stack([by_text[c] for c in loaded.meta["captions"]]))
    ref = references.clip_benchmark_retrieval(args.clip_benchmark, ann, {Path(r.path).name: e for r, e in zip(loaded.meta["images"], img)}, by_text)
    for direction in ("text_retrieval", "image_retrieval"):
        for k in (1, 5, 10):
            key = f"{direction}_recall@{k}"
            note = f"eqvl ties=strict: {100 * res['metrics'][key + '_strict']:.2f}; {res['ties'][direction + '_ties']} queries tied"
            if abs(here["metrics"][key] - res["metrics"][key]) > 1e-9:
                note += f"; eqvl on the embeddings fed to the reference: {100 * here['metrics'][key]:.2f}"
            rows.append(("retrieval (CLIP_benchmark)", key, res["metrics"][key], ref[key], note))


def aro_rows(args, data: Path, model, rows: list) -> None:
    res = eqvl_eval(args, "aro", data, "--option", "subset=vg_relation,vg_attribution")
    ref = references.aro_official(args.aro, data, model)
    records = json.loads((data / "visual_genome_relation.json").read_text(encoding="utf-8"))
    edge = [r for r in records if _past_edge(r, _size(data / "images" / r["image_path"]))]
    changed, flipped = _clipping_effect(data, edge, model)
    note = (f"{len(edge)} of {len(records)} boxes run past the edge; clipping them instead (eqvl before) changes "
            f"{changed} of their scores, {flipped} decisions")
    for key in ("vg_relation", "vg_attribution"):
        rows.append(("ARO (official)", key, res["metrics"][key], ref[key], note))


def _clipping_effect(data: Path, edge: list[dict], model) -> tuple[int, int]:
    """How many past-the-edge VG-Relation items score differently / flip when the box is clipped to the image."""
    from PIL import Image

    changed = flipped = 0
    for r in edge:
        with Image.open(data / "images" / r["image_path"]) as handle:
            im = handle.convert("RGB")
        x, y, w, h = r["bbox_x"], r["bbox_y"], r["bbox_w"], r["bbox_h"]
        caps = [r["false_caption"], r["true_caption"]]
        padded = model.pair_scores(model.preprocess(im.crop((x, y, x + w, y + h))), caps)[0]
        clipped = model.pair_scores(model.preprocess(im.crop((max(0, x), max(0, y), min(im.width, x + w), min(im.height, y + h)))), caps)[0]
        changed += int(not np.array_equal(padded, clipped))
        flipped += int((padded[1] > padded[0]) != (clipped[1] > clipped[0]))
    return changed, flipped


def _past_edge(rec: dict, size: tuple[int, int]) -> bool:
    return rec["bbox_x"] < 0 or rec["bbox_y"] < 0 or rec["bbox_x"] + rec["bbox_w"] > size[0] or rec["bbox_y"] + rec["bbox_h"] > size[1]


def _size(path: Path) -> tuple[int, int]:
    from PIL import Image

    with Image.open(path) as im:
        return im.size


def valse_rows(args, data: Path, model, rows: list) -> None:
    res = eqvl_eval(args, "valse", data)
    ref = references.valse_official(args.valse, data, model, lambda p: load_image(ImageRef(str(p))))
    for phen, acc in ref["phenomena"].items():
        mine = res["phenomena"][phen]
        rows.append(("VALSE phenomena (official rule)", phen, mine["pairwise_acc"], acc,
                     f"{mine['instruments']} instrument(s); eqvl pairwise_acc_pooled {100 * mine['pairwise_acc_pooled']:.2f}"))
    for stem, acc in ref["instruments"].items():
        name = VALSE_NAMES.get(stem, stem)
        rows.append(("VALSE instruments (official rule)", name, res["subsets"][name]["pairwise_acc"], acc, ""))
    rows.append(("VALSE (paper's Avg.)", "pairwise_acc_macro", res["metrics"]["pairwise_acc_macro"],
                 float(np.mean(list(ref["instruments"].values()))), "mean over instruments"))


def sugarcrepe_rows(args, data: Path, model, rows: list) -> None:
    res = eqvl_eval(args, "sugarcrepe", data)
    files = make_data.SUGARCREPE_FILES
    if args.sugarcrepe:
        ref = references.sugarcrepe_official(args.sugarcrepe, data, files, model)
        rows += [("SugarCrepe (official main_eval)", f, res["subsets"][f]["acc"], ref[f], "") for f in files]
    if args.clip_benchmark:
        ref = references.clip_benchmark_sugarcrepe(args.clip_benchmark, data, files, model)
        rows += [("SugarCrepe (CLIP_benchmark)", f, res["subsets"][f]["acc"], ref[f], "") for f in files]


def eqben_rows(args, data: Path, rows: list) -> None:
    """The official scorer on eqvl's export, and its (caption, image) cells against eqvl's own score arrays."""
    pred = data / "src_file" / "prediction.npy"
    npz = args.workdir / "eqvl" / "eqben_scores.npz"
    res = eqvl_eval(args, "eqben", data, "--export-official-scores", str(pred), "--scores-out", str(npz))
    ref, cells = references.eqben_official(args.eqben, data)
    for subset, metrics in ref.items():
        for m in ("text", "image", "group"):
            rows.append(("EqBen (official evaluate_eqben_locally.py)", f"{EQBEN_NAMES[subset]} {m}",
                         res["subsets"][EQBEN_NAMES[subset]][m], metrics[m], "on eqvl's exported prediction.npy"))
    mine = np.load(npz, allow_pickle=False)
    by_id = dict(zip([str(i) for i in mine["ids"]], mine["scores"]))
    info = json.loads((data / "src_file" / "private_info.json").read_text(encoding="utf-8"))
    twins = {(e["dataset"], e["sample_cnt"]) for e in info}
    gap = max(abs(cells[f"c{c}i{i}"][cnt] - by_id[f"{EQBEN_NAMES[ds]}/{cnt}"][c, i]) for ds, cnt in twins for c in (0, 1) for i in (0, 1))
    rows.append(("EqBen (official evaluate_eqben_locally.py)", f"{4 * len(twins)} cells: max abs(official - eqvl)",
                 0.0, float(gap), f"max gap {gap:g}: the scorer's c0i0..c1i1 per twin vs eqvl's --scores-out [caption, image]"))


def print_table(rows: list, args) -> None:
    print(f"model {args.model}, --pretrained none, seed {args.seed}, CPU fp32; files: {args.workdir / 'data'}\n")
    print("| reference | metric | eqvl | reference | same | note |\n|---|---|---|---|---|---|")
    for source, metric, mine, theirs, note in rows:
        same = "yes" if abs(mine - theirs) < 1e-6 else "**no**"  # 1e-6: CLIP_benchmark means in float32
        print(f"| {source} | {metric} | {100 * mine:.2f} | {100 * theirs:.2f} | {same} | {note} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workdir", type=Path, required=True, help="scratch folder for the files and results (created)")
    ap.add_argument("--overwrite", action="store_true", help="reuse a --workdir that already holds files")
    for name in ("clip-benchmark", "aro", "valse", "sugarcrepe", "eqben", "bivlc", "spec", "naturalbench", "vismin", "cola", "imagecode"):
        ap.add_argument(f"--{name}", type=Path, help=f"local checkout of the {name} reference repository")
    ap.add_argument("--colorswap", action="store_true", help="the ColorSwap row (no checkout: its scorer is a Colab notebook)")
    ap.add_argument("--clip-benchmark-compo", type=Path, help="a CLIP_benchmark checkout of branch compositionality_tasks (ColorSwap, COLA rows)")
    compositional.add_flags(ap)
    ap.add_argument("--model", default="eqvl-tiny-vit", help="a shipped tiny config (random init: tiny-rn's image embeddings barely vary)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if args.workdir.exists() and any(args.workdir.iterdir()):
        if not args.overwrite:
            sys.exit(f"{args.workdir} is not empty (--overwrite to reuse it)")
        shutil.rmtree(args.workdir / "data", ignore_errors=True)
    dirs = make_data.make_all(args.workdir / "data", seed=args.seed)
    encoder = load_encoder(args.model, "none", seed=args.seed, device="cpu", precision="fp32")
    model = references.Model(encoder)
    rows: list = []
    if args.clip_benchmark:
        retrieval_rows(args, dirs["retrieval"], encoder, rows)
    if args.aro:
        aro_rows(args, dirs["aro"], model, rows)
    if args.valse:
        valse_rows(args, dirs["valse"], model, rows)
    if args.sugarcrepe or args.clip_benchmark:
        sugarcrepe_rows(args, dirs["sugarcrepe"], model, rows)
    if args.eqben:
        eqben_rows(args, dirs["eqben"], rows)
    if args.colorswap or any((args.bivlc, args.spec, args.naturalbench, args.vismin, args.cola, args.imagecode, args.clip_benchmark_compo)):
        hub_dirs = parity_hub.make_hub_data(args.workdir / "data", seed=args.seed)
        parity_hub.hub_rows(args, lambda bench, data, *extra: eqvl_eval(args, bench, data, *extra), hub_dirs, model, rows)
    compositional.run_all(args, model, lambda bench, data, *extra: eqvl_eval(args, bench, data, *extra), rows)
    (args.workdir / "parity.json").write_text(json.dumps(rows, indent=1), encoding="utf-8")
    print_table(rows, args)


if __name__ == "__main__":
    main()
