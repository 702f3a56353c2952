"""Parity rows for ColorSwap, BiVLC, SPEC, NaturalBench-Retrieval, VisMin, COLA and ImageCoDe.

Each `*_rows` writes nothing of its own: it takes the files `make_hub_data` wrote in the official
layouts, the result of `eqvl eval` on them (the CLI a user runs), and the official code of a local
checkout run on the same files with the same open_clip model (only the model part is swapped in).
Packages the references import but never use here are stood in for; SPEC's wrapper needs einops.
"""

from __future__ import annotations

import io
import json
import sys
import types
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from PIL import Image

import make_data
from references import _load_module, on_path

SPEC_SUBSETS = ("count", "existence")
CATEGORIES = ("object", "attribute", "counting", "relation")
COLA_FILE = "COLA_multiobjects_matching_benchmark.json"


class _Unused(types.ModuleType):
    """A stand-in for a package a reference imports but never calls on the parity path: any use fails loudly."""

    def __getattr__(self, attr: str):
        if attr.startswith("__"):
            raise AttributeError(attr)

        def unused(*_a, **_k):
            raise RuntimeError(f"{self.__name__}.{attr} is a stand-in; the parity path should not call it")

        return unused


def _stub(*names: str) -> None:
    for name in names:
        if name not in sys.modules:
            try:
                __import__(name)
            except ImportError:
                sys.modules[name] = _Unused(name)


def _png(path: Path, rng) -> bytes:
    make_data._image(path, rng)
    return path.read_bytes()


def _twin_captions(rng, k: int) -> tuple[str, str]:
    c1, c2 = rng.choice(make_data.COLORS, 2, replace=False)
    t1, t2 = rng.choice(make_data.THINGS, 2, replace=False)
    return f"a {c1} {t1} and a {c2} {t2} {k}", f"a {c2} {t1} and a {c1} {t2} {k}"


def make_hub_data(root: Path, seed: int = 0, n: int = 24) -> dict[str, Path]:
    """Every set in its official layout under root/<name>; Hub sets as parquet / save_to_disk with embedded images."""
    rng = np.random.default_rng(seed + 7)
    dirs = {name: root / name for name in ("colorswap", "bivlc", "spec", "naturalbench", "vismin", "cola", "imagecode")}
    raw = root / "_raw"
    cs = []
    for k in range(n):
        for j in (1, 2):
            make_data._image(dirs["colorswap"] / "images" / f"img_{k}_{j}.png", rng)
        c1, c2 = _twin_captions(rng, k)
        cs.append({"id": k, "caption_1": c1, "caption_2": c2, "image_1": f"images/img_{k}_1.png", "image_2": f"images/img_{k}_2.png",
                   "image_source": ["midjourney", "dalle3"][k % 2], "caption_source": "human"})
    make_data._write_json(dirs["colorswap"] / "test.json", cs)
    kinds = [("replace", "obj"), ("replace", "att"), ("replace", "rel"), ("swap", "obj"), ("swap", "att"), ("add", "obj")]
    write_parquet(dirs["bivlc"] / "data" / "test-00000-of-00001.parquet", [
        {"image": _png(raw / f"b{k}a.png", rng), "caption": c[0], "negative_caption": c[1], "negative_image": _png(raw / f"b{k}b.png", rng),
         "type": kinds[k % 6][0], "subtype": kinds[k % 6][1]} for k, c in ((k, _twin_captions(rng, k)) for k in range(n))])
    write_saved_split(dirs["vismin"], "test", [
        {"id": k, "text_0": c[0], "text_1": c[1], "image_0": _png(raw / f"v{k}a.png", rng), "image_1": _png(raw / f"v{k}b.png", rng),
         "category": CATEGORIES[k % 4]} for k, c in ((k, _twin_captions(rng, k)) for k in range(n))])
    nb = dirs["naturalbench"] / "NaturalBench-Retrieval"
    meta = []
    for k in range(n):
        for j in (0, 1):
            make_data._image(nb / "images" / f"{k}_{j}.jpg", rng)
        c0, c1 = _twin_captions(rng, k)
        meta.append({"index": k, "image_0": f"{k}_0.jpg", "image_1": f"{k}_1.jpg", "caption_0": c0, "caption_1": c1})
    make_data._write_json(nb / "metadata.json", meta)
    cola = []
    for k in range(n):
        ids = (2300000 + 2 * k, 2300001 + 2 * k)
        for vg in ids:
            make_data._image(dirs["cola"] / "images" / f"{vg}.jpg", rng)
        c0, c1 = _twin_captions(rng, k)
        cola.append([f"https://cs-people.bu.edu/array/data/vg_gqa_images/{ids[0]}.jpg", c0,
                     f"https://cs-people.bu.edu/array/data/vg_gqa_images/{ids[1]}.jpg", c1])
    make_data._write_json(dirs["cola"] / "data" / COLA_FILE, cola)
    _make_spec(dirs["spec"], rng, n)
    _make_imagecode(dirs["imagecode"], rng, n)
    return dirs


def _make_imagecode(root: Path, rng, n: int) -> None:
    """Static and video sets of 10 JPEGs (video frames numbered 0, 3, 6, ... so numeric and name order differ)."""
    descr = {}
    for k in range(n // 3):
        name = f"open-images-{k}_{k:016x}" if k % 2 else f"MSR-VTT-videoTestVideo_video{k}-shot1_0"
        for j in range(10):
            (root / "data" / name).mkdir(parents=True, exist_ok=True)
            Image.open(io.BytesIO(_png(root / "_raw" / f"{k}_{j}.png", rng))).save(root / "data" / name / f"img{j * (3 if k % 2 == 0 else 1)}.jpg")
        descr[name] = {str(int(i)): f"the {rng.choice(make_data.COLORS)} {rng.choice(make_data.THINGS)} is near the middle {k}{i} "
                       for i in rng.choice(10, 2, replace=False)}
    make_data._write_json(root / "data" / "valid_data.json", descr)


def _make_spec(root: Path, rng, n: int) -> None:
    """Two subsets; each file has one record with a repeated candidate, so torch.argmax's tie rule is exercised."""
    for sub, n_keys in zip(SPEC_SUBSETS, (4, 2)):
        for k in range(n_keys * 3):
            make_data._image(root / sub / "images" / f"{k}.png", rng, size=(80, 64))
        i2t, t2i = [], []
        for k in range(n):
            keys = [f"{j + 1} {rng.choice(make_data.THINGS)} on {rng.choice(make_data.PLACES)}" for j in range(n_keys)]
            if k == 0:
                keys[1] = keys[0]  # a tie between candidates 0 and 1
            i2t.append({"query": f"images/{k % (n_keys * 3)}.png", "keys": keys, "label": int(rng.integers(0, 2 if k == 0 else n_keys))})
            imgs = [f"images/{int(x)}.png" for x in rng.choice(n_keys * 3, n_keys, replace=False)]
            if k == 0:
                imgs[1] = imgs[0]
            t2i.append({"query": keys[-1], "keys": imgs, "label": int(rng.integers(0, 2 if k == 0 else n_keys))})
        make_data._write_json(root / sub / "image2text.json", i2t)
        make_data._write_json(root / sub / "text2image.json", t2i)


def _table(rows: list[dict]):
    import pyarrow as pa

    image = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    return pa.table({k: pa.array([{"bytes": r[k], "path": None} for r in rows], type=image) if isinstance(rows[0][k], bytes)
                     else pa.array([r[k] for r in rows]) for k in rows[0]})


def write_parquet(path: Path, rows: list[dict]) -> None:
    """As on the Hub: images as {bytes, path} structs."""
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(_table(rows), str(path))


def write_saved_split(folder: Path, split: str, rows: list[dict]) -> None:
    """As `DatasetDict.save_to_disk` writes it: dataset_dict.json + <split>/data-00000-of-00001.arrow (Arrow stream)."""
    import pyarrow as pa

    (folder / split).mkdir(parents=True, exist_ok=True)
    (folder / "dataset_dict.json").write_text(json.dumps({"splits": [split]}))
    (folder / split / "dataset_info.json").write_text("{}")
    table = _table(rows)
    with pa.OSFile(str(folder / split / "data-00000-of-00001.arrow"), "wb") as sink, pa.ipc.new_stream(sink, table.schema) as w:
        w.write_table(table)


def _cos(model, pixels: torch.Tensor, captions: list[str]) -> torch.Tensor:
    """[images, captions] cosine similarities from the open_clip model (fp32, CPU)."""
    with torch.no_grad():
        im = torch.nn.functional.normalize(model.net.encode_image(pixels).float(), dim=-1)
        tx = torch.nn.functional.normalize(model.net.encode_text(model.tokenizer(captions)).float(), dim=-1)
    return im @ tx.T


def _pil(path_or_bytes) -> Image.Image:
    source = io.BytesIO(path_or_bytes) if isinstance(path_or_bytes, (bytes, bytearray)) else path_or_bytes
    return Image.open(source).convert("RGB")


def _rows_arrow(folder: Path) -> list[dict]:
    """The rows as the reference's load_dataset / load_from_disk would give them (images still {bytes, path})."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    out = []
    for f in sorted(folder.glob("**/*.parquet")) or sorted(folder.glob("test/data-*.arrow")):
        if f.suffix == ".parquet":
            out += pq.read_table(str(f)).to_pylist()
        else:
            with pa.memory_map(str(f)) as src:
                out += pa.ipc.open_stream(src).read_all().to_pylist()
    return out


Row = tuple[str, str, float, float, str]


def _cells_row(source: str, npz: Path, theirs: dict[str, np.ndarray], rows: list[Row]) -> None:
    """Every [caption, image] score the reference computed vs eqvl's --scores-out, as one max-gap row."""
    mine = np.load(npz, allow_pickle=False)
    by_id = dict(zip([str(i) for i in mine["ids"]], mine["scores"]))
    gap = max(float(np.abs(by_id[k] - v).max()) for k, v in theirs.items())
    rows.append((source, f"{4 * len(theirs)} cells: max abs(official - eqvl)", 0.0, gap,
                 f"max gap {gap:.2g}: the reference's similarities vs eqvl's --scores-out"))


def colorswap_rows(eqvl_eval: Callable, data: Path, model, rows: list[Row]) -> None:
    """No scorer in the ColorSwap repository (its ITM evaluation is a Colab notebook): Winoground's
    definition, recomputed here from the model's similarities."""
    res = eqvl_eval("colorswap", data)
    recs = json.loads((data / "test.json").read_text(encoding="utf-8"))
    hits = {"text": [], "image": [], "group": []}
    for r in recs:
        s = _cos(model, torch.stack([model.preprocess(_pil(data / r["image_1"])), model.preprocess(_pil(data / r["image_2"]))]),
                 [r["caption_1"], r["caption_2"]])  # s[image, caption]
        text = bool(s[0, 0] > s[0, 1] and s[1, 1] > s[1, 0])
        image = bool(s[0, 0] > s[1, 0] and s[1, 1] > s[0, 1])
        hits["text"].append(text), hits["image"].append(image), hits["group"].append(text and image)
    for key, flags in hits.items():
        rows.append(("ColorSwap (Winoground's definition; no official code)", key, res["metrics"][key], float(np.mean(flags)), ""))


def bivlc_rows(ref: Path, eqvl_eval: Callable, data: Path, model, rows: list[Row]) -> None:
    """BiVLC's evaluate_BiVLC (src/CLIP_fine_tuning/CLIP_utils.py), batches built as its 'evaluation' collate_fn,
    sums per type as main_evaluation_BiVLC.py prints them (its lines computing 100*sum/len)."""
    res = eqvl_eval("bivlc", data)
    _stub("pandas", "datasets")
    utils = _load_module(ref / "src" / "CLIP_fine_tuning" / "CLIP_utils.py", "bivlc_clip_utils")
    recs = _rows_arrow(data)
    batch = {"image_0": torch.stack([model.preprocess(_pil(r["image"]["bytes"])) for r in recs]),
             "image_1": torch.stack([model.preprocess(_pil(r["negative_image"]["bytes"])) for r in recs]),
             "caption_0": [r["caption"] for r in recs], "caption_1": [r["negative_caption"] for r in recs]}
    args = types.SimpleNamespace(device="cpu")
    with torch.inference_mode():
        out = utils.evaluate_BiVLC(args, batch, model.net, model.tokenizer)
    names = ("i2t", "t2i", "group", "ipos_2t", "ineg_2t", "tpos_2i", "tneg_2i")
    flags = {n: np.array([bool(x) for x in v]) for n, v in zip(names, out)}
    for n in names:
        rows.append(("BiVLC (official evaluate_BiVLC)", n, res["metrics"][n], float(flags[n].mean()), ""))
    types_ = np.array([r["type"] for r in recs])
    for t in ("replace", "swap", "add"):
        for n in ("i2t", "t2i", "group"):
            rows.append(("BiVLC (official evaluate_BiVLC)", f"{t} {n}", res["subsets"][t][n], float(flags[n][types_ == t].mean()), ""))


def spec_rows(ref: Path, eqvl_eval: Callable, data: Path, model, rows: list[Row]) -> None:
    """SPEC's own get_data (spec/dataset.py) and CLIPWrapper.evaluate (spec/models/clip_wrapper.py, the model
    swapped in), averaged over subsets as eval.py's main() does (i2t_acc += ...; / subset_num)."""
    res = eqvl_eval("spec", data, "--option", "subset=" + ",".join(SPEC_SUBSETS))
    with on_path(ref / "spec", forget=("models", "dataset")):
        from dataset import get_data
        from models.clip_wrapper import CLIPWrapper

        wrapper = object.__new__(CLIPWrapper)
        wrapper.model, wrapper.tokenizer, wrapper.device = model.net, model.tokenizer, "cpu"
        loaders = get_data(str(data), list(SPEC_SUBSETS), model.preprocess, batch_size=5, num_workers=0)
        per = {name: wrapper.evaluate(name, dl)["accuracy"] for name, dl in loaders.items()}
    for name, acc in per.items():
        for d in ("i2t", "t2i"):
            rows.append(("SPEC (official dataset.py + CLIPWrapper)", f"{name} {d}", res["subsets"][name][f"{d}_acc"],
                         acc[f"{d}_accuracy"] / 100, "torch.argmax ties: record 0 of each file has a repeated candidate"))
    for d in ("i2t", "t2i"):
        rows.append(("SPEC (eval.py's average over subsets)", f"{d}_acc", res["metrics"][f"{d}_acc"],
                     float(np.mean([a[f"{d}_accuracy"] for a in per.values()])) / 100, ""))


def naturalbench_rows(ref: Path, eqvl_eval: Callable, data: Path, model, rows: list[Row]) -> None:
    """NaturalBench's NaturalBench_Retrieval dataset (its image paths) and evaluate_scores (get_retrieval_scores +
    get_retrieval_acc), fed [N, images, texts] cosine scores as t2v_metrics' batch_forward returns them."""
    npz = data.parent.parent / "eqvl" / "naturalbench_scores.npz"
    res = eqvl_eval("naturalbench", data, "--scores-out", str(npz))
    _stub("t2v_metrics")
    mod = _load_module(ref / "naturalbench_retrieval.py", "naturalbench_retrieval")
    ds = mod.NaturalBench_Retrieval(root_dir=str(data), download=False)
    scores = torch.stack([_cos(model, torch.stack([model.preprocess(_pil(p)) for p in ds[k]["images"]]), ds[k]["texts"])
                          for k in range(len(ds))])
    acc = ds.evaluate_scores(scores)["all"]
    cells = mod.get_retrieval_scores(scores)  # their c{caption}_i{image} cells, by record index
    _cells_row("NaturalBench-Retrieval (official get_retrieval_scores)", npz,
               {str(c["id"]): np.array([[c["c0_i0"], c["c0_i1"]], [c["c1_i0"], c["c1_i1"]]], dtype=float) for c in cells}, rows)
    for key in ("text", "image", "group"):
        rows.append(("NaturalBench-Retrieval (official evaluate_scores)", key, res["metrics"][key], float(acc[key]), ""))


def vismin_rows(ref: Path, eqvl_eval: Callable, data: Path, model, rows: list[Row]) -> None:
    """VisMin's compute_contrastive_accuracy (vismin-bench/metric.py) on predictions built as vismin-bench/eval.py
    builds them (F.cosine_similarity of T0_I0 ... T1_I1); the rows come from the save_to_disk copy via pyarrow
    instead of datasets.load_from_disk."""
    npz = data.parent.parent / "eqvl" / "vismin_scores.npz"
    res = eqvl_eval("vismin", data, "--scores-out", str(npz))
    _stub("pandas")
    metric = _load_module(ref / "vismin-bench" / "metric.py", "vismin_metric")
    preds = []
    for r in _rows_arrow(data):
        s = _cos(model, torch.stack([model.preprocess(_pil(r["image_0"]["bytes"])), model.preprocess(_pil(r["image_1"]["bytes"]))]),
                 [r["text_0"], r["text_1"]])  # s[image, text]
        preds.append({"idx": r["id"], "T0_I0": s[0, 0].item(), "T0_I1": s[1, 0].item(), "T1_I0": s[0, 1].item(),
                      "T1_I1": s[1, 1].item(), "category": r["category"]})
    for cat, acc in metric.compute_contrastive_accuracy(preds).items():
        for key in ("text", "image", "group"):
            mine = res["subsets"][cat][key]
            rows.append(("VisMin (official metric.py)", f"{cat} {key}", round(100 * mine, 2) / 100, acc[key] / 100,
                         f"eqvl rounded as metric.py rounds (2 decimals of a percent); unrounded {100 * mine:.4f}"))
    _cells_row("VisMin (official eval.py's T0_I0..T1_I1)", npz, {str(p["idx"]): np.array([[p["T0_I0"], p["T0_I1"]], [p["T1_I0"], p["T1_I1"]]])
                                                               for p in preds}, rows)


def cola_rows(ref: Path, eqvl_eval: Callable, data: Path, model, rows: list[Row]) -> None:
    """COLA's ColaMultiObjAcc (scripts/eval.py) per record, preds[image, caption]; mean as its __main__ does."""
    res = eqvl_eval("cola", data)
    _stub("torchmetrics")
    cola = _load_module(ref / "scripts" / "eval.py", "cola_eval")
    recs = json.loads((data / "data" / COLA_FILE).read_text(encoding="utf-8"))
    acc = []
    for image_1, caption_1, image_2, caption_2 in recs:
        pix = torch.stack([model.preprocess(_pil(data / "images" / u.rsplit("/", 1)[-1])) for u in (image_1, image_2)])
        acc.append(cola.ColaMultiObjAcc(_cos(model, pix, [caption_1, caption_2]).numpy()))
    rows.append(("COLA (official ColaMultiObjAcc)", "acc", res["metrics"]["acc"], float(np.mean(acc)), "multi-object set"))


def imagecode_rows(ref: Path, eqvl_eval: Callable, data: Path, model, rows: list[Row]) -> None:
    """ImageCoDe's baselines/clip/zero_shot.py run unchanged as a script (runpy) with a stand-in `clip` package whose
    load() returns the open_clip model and tokenize() its tokenizer; its correct / total counters are read back."""
    import os
    import runpy

    npz = data.parent.parent / "eqvl" / "imagecode_scores.npz"
    res = eqvl_eval("imagecode", data, "--scores-out", str(npz))
    clip = types.ModuleType("clip")
    clip.load = lambda *_a, **_k: (model.net, model.preprocess)
    clip.tokenize = lambda text, truncate=True: model.tokenizer(text)
    saved, argv, cwd = sys.modules.get("clip"), sys.argv, os.getcwd()
    sys.modules["clip"] = clip
    work = data.parent.parent / "imagecode_ref"
    (work / "results").mkdir(parents=True, exist_ok=True)
    try:
        os.chdir(work)
        sys.argv = ["zero_shot.py", "--descr_path", str(data / "data" / "valid_data.json"), "--imgs_path", str(data / "data")]
        g = runpy.run_path(str(ref / "baselines" / "clip" / "zero_shot.py"), run_name="__main__")
    finally:
        os.chdir(cwd)
        sys.argv = argv
        sys.modules.pop("clip")
        if saved is not None:
            sys.modules["clip"] = saved
    for key, num, den in (("acc", "correct", "total"), ("static_acc", "img_correct", "img_total"), ("video_acc", "vid_correct", "vid_total")):
        rows.append(("ImageCoDe (official zero_shot.py)", key, res["metrics"][key], g[num] / g[den], f"{g[den]} descriptions"))
    mine = np.load(npz, allow_pickle=False)
    by_id = dict(zip([str(i) for i in mine["ids"]], mine["scores"][:, 0, :]))
    theirs = {f"{d}/{i}": (np.array(v[f"raw_preds_{i}"]), v[f"clip_pred_{i}"]) for d, v in g["results"].items()
              for i in {k.rsplit("_", 1)[1] for k in v}}
    same_top1 = float(np.mean([int(np.argmax(by_id[k])) == pred for k, (_, pred) in theirs.items()]))
    gap = max(float(np.abs(-sims - by_id[k]).max()) for k, (sims, _) in theirs.items())
    rows.append(("ImageCoDe (official zero_shot.py)", f"{len(theirs)} top-1 images: share equal to eqvl's argmax", 1.0, same_top1,
                 f"their raw_preds vs eqvl's --scores-out: max gap {gap:.2g}"))


def clip_benchmark_compo_rows(ref: Path, eqvl_eval: Callable, dirs: dict[str, Path], model, rows: list[Row]) -> None:
    """CLIP_benchmark's branch `compositionality_tasks`: its Colorswap and COLA datasets, its match collate_fn and its
    image_caption_selection.evaluate (strict: every positive above every negative), on the same files."""
    import shutil

    _stub("easydict", "pycocotools", "pycocotools.coco", "requests", "datasets")
    with on_path(ref, forget=("clip_benchmark",)):
        from clip_benchmark.datasets import builder, cola, colorswap
        from clip_benchmark.metrics import image_caption_selection

        recs = json.loads((dirs["colorswap"] / "test.json").read_text(encoding="utf-8"))
        table = {"test": [{**r, "image_1": _pil(dirs["colorswap"] / r["image_1"]), "image_2": _pil(dirs["colorswap"] / r["image_2"])}
                          for r in recs]}
        hub = sys.modules["datasets"]
        saved = getattr(hub, "load_dataset", None)
        hub.load_dataset = lambda *_a, **_k: table  # its __init__ calls load_dataset("stanfordnlp/colorswap")["test"]
        try:
            sets = {"colorswap": colorswap.Colorswap(transform=model.preprocess)}
        finally:
            hub.load_dataset = saved
        flat = dirs["cola"].parent / "cola_clip_benchmark"  # its COLA wants the JSON and the images in one folder
        flat.mkdir(exist_ok=True)
        for f in [*(dirs["cola"] / "images").iterdir(), dirs["cola"] / "data" / COLA_FILE]:
            shutil.copy(f, flat / f.name)
        sets["cola"] = cola.COLA(root=str(flat), transform=model.preprocess, download=False)
        for name, ds in sets.items():
            loader = torch.utils.data.DataLoader(ds, batch_size=8, collate_fn=builder.get_dataset_collate_fn(name))
            theirs = image_caption_selection.evaluate(model.net, loader, model.tokenizer, "cpu", amp=False)
            mine = eqvl_eval(name, dirs[name])["metrics"]
            keys = {"colorswap": ("text", "image", "group"), "cola": ("text", "acc", "group")}[name]
            for ours, their_key in zip(keys, ("text_acc", "image_acc", "acc")):
                rows.append((f"{dict(colorswap='ColorSwap', cola='COLA')[name]} (CLIP_benchmark compositionality_tasks)", f"{ours} vs {their_key}", mine[ours],
                             theirs[their_key], "float32 mean"))


def hub_rows(args, eqvl_eval: Callable, dirs: dict[str, Path], model, rows: list[Row]) -> None:
    """Every row whose reference checkout was given (ColorSwap needs none)."""
    colorswap_rows(eqvl_eval, dirs["colorswap"], model, rows)
    for name, fn in (("bivlc", bivlc_rows), ("spec", spec_rows), ("naturalbench", naturalbench_rows),
                     ("vismin", vismin_rows), ("cola", cola_rows), ("imagecode", imagecode_rows)):
        if getattr(args, name, None):
            fn(getattr(args, name), eqvl_eval, dirs[name], model, rows)
    if getattr(args, "clip_benchmark_compo", None):
        clip_benchmark_compo_rows(args.clip_benchmark_compo, eqvl_eval, dirs, model, rows)
