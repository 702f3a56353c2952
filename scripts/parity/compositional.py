"""Parity rows for VL-CheckList, SugarCrepe++, What'sUp and MMVP-VLM: each repository's own scorer,
imported or run from a local checkout, on the files compositional_data.py writes, with only the
model part swapped for the same open_clip model eqvl evaluates (references.Model).

    --vl-checklist  om-ai-lab/VL-CheckList   vl_checklist.evaluate.Evaluate (ITC), unchanged; radar.py's means
    --scpp          Sri-Harsha/scpp          VLMs/test_Variants_CLIP.py, run as a script
    --whatsup       amitakamath/whatsup_vlms dataset_zoo Controlled_Images / COCO_QA / VG_QA + evaluate_scores
    --mmvp          tsb0601/MMVP             scripts/evaluate_vlm.py, run as a script
    --crepe         RAIVNLab/CREPE           CsvDataset + evaluate (get_one2many_rank / _metrics) of crepe_compo_eval_open_clip.py
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import re
import runpy
import sys
import types
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from PIL import Image

import compositional_data as cdata
from references import Model, cwd, on_path

FLAGS = {"vl_checklist": "om-ai-lab/VL-CheckList", "scpp": "Sri-Harsha/scpp", "whatsup": "amitakamath/whatsup_vlms",
         "mmvp": "tsb0601/MMVP", "crepe": "RAIVNLab/CREPE"}


def add_flags(ap) -> None:
    for attr, repo in FLAGS.items():
        ap.add_argument(f"--{attr.replace('_', '-')}", dest=attr, type=Path, help=f"local checkout of {repo}")


def run_all(args, model: Model, eqvl_eval: Callable[..., dict], rows: list) -> None:
    rng = np.random.default_rng(args.seed + 7)
    data = args.workdir / "data"
    for attr, fn in (("vl_checklist", vl_checklist_rows), ("scpp", scpp_rows), ("whatsup", whatsup_rows), ("mmvp", mmvp_rows), ("crepe", crepe_rows)):
        if getattr(args, attr, None):
            fn(getattr(args, attr), data, rng, model, eqvl_eval, rows)


def _pil_score(model: Model, path: str, captions: list[str]) -> np.ndarray:
    with Image.open(path) as im:
        return model.pair_scores(model.preprocess(im.convert("RGB")), captions)[0]


# ------------------------------------------------------------------ VL-CheckList


def vl_checklist_official(ref: Path, root: Path, model: Model) -> dict[str, float]:
    """Evaluate(...).start() per type, in `root` as its cwd, with a stand-in `predict` that returns
    probs [1 - s, s] of the model's score s; `random.sample` returns every sample so the exact accuracy
    is len(correct) / number_of_data, and `add_caption` (drawing with a font the checkout lacks) is off."""
    out = {}
    with on_path(ref, forget=("vl_checklist",)), cwd(root):
        import vl_checklist.evaluate as ev

        ev.random = types.SimpleNamespace(sample=lambda pop, k: list(pop))
        ev.add_caption = lambda *a, **k: None

        class Standin:
            def model_name(self):
                return "eqvl-parity"

            def predict(self, images, texts, src_type="local"):
                return {"probs": [[1 - s, s] for s in (float(_pil_score(model, i, [t])[0]) for i, t in zip(images, texts))]}

        types_ = sorted({t for t, _ in cdata.VLC_FILES})
        for type_ in types_:
            sources = [s for t, s in cdata.VLC_FILES if t == type_ and (root / "corpus/v1" / t / f"{s}.yaml").is_file()]
            conf = root / f"parity_{type_.replace('/', '_')}.yaml"
            conf.write_text(json.dumps({"MAX_NUM": None, "BATCH_SIZE": 4, "TASK": "itc", "DATA": {"TYPES": [type_], "TEST_DATA": sources},
                                        "OUTPUT": {"DIR": "official_out", "NUM": 0}}), encoding="utf-8")  # JSON is YAML
            ev.Evaluate(str(conf), Standin()).start()
            for s in sources:
                res = json.loads((root / "official_out" / "itc" / f"{type_.replace('/', '_')}_{s}.json").read_text(encoding="utf-8"))
                exact = len(res["sample_correct_outputs"]) / res["number_of_data"]
                assert round(exact, 4) == res["total_acc"]
                out[f"{type_}/{s}"] = exact
    return out


def radar_means(per_file: dict[str, float]) -> dict[str, float]:
    """radar.py generate_chart lines 122-137: per spoke, mean over files of one source (corpus.json groups
    vg_obj/vg_subj as vg, swig_* as swig), then mean over sources; here over the files present."""
    groups: dict[str, dict[str, list[float]]] = {}
    for name, acc in per_file.items():
        type_, source = name.rsplit("/", 1)
        groups.setdefault(type_, {}).setdefault(source.split("_")[0], []).append(acc)
    spokes = {t: sum(sum(v) / len(v) for v in g.values()) / len(g) for t, g in groups.items()}
    cats: dict[str, list[float]] = {}
    for t, v in spokes.items():
        cats.setdefault(t.split("/")[0].lower(), []).append(v)
    return {**spokes, **{c: sum(v) / len(v) for c, v in cats.items()}}


def vl_checklist_rows(ref: Path, data: Path, rng, model: Model, eqvl_eval, rows: list) -> None:
    root = cdata.make_vl_checklist(ref, data / "vl_checklist", rng)
    res = eqvl_eval("vl-checklist", root)
    ref_files = vl_checklist_official(ref, root, model)
    dropped = sum(res.get("missing_images", {}).values())
    for name, acc in ref_files.items():
        rows.append(("VL-CheckList (official evaluate.py, itc)", name, res["subsets"][name]["acc"], acc,
                     f"n={res['subsets'][name]['n']}"))
    for key, value in radar_means(ref_files).items():
        mine = res["metrics"][key] if key in res["metrics"] else res["types"][key]["acc"]
        rows.append(("VL-CheckList (radar.py means, lines 122-137)", key, mine, value, f"{dropped} records without images dropped" if key == "object" else ""))


# ------------------------------------------------------------------ SugarCrepe++


def scpp_official(ref: Path, root: Path, model: Model) -> dict[str, dict[str, float]]:
    """VLMs/test_Variants_CLIP.py run as a script in `root` (images/, data/), `open_clip` stood in by a module
    whose create_model_and_transforms returns the model eqvl evaluates; stopped after its first model."""
    class Done(Exception):
        pass

    calls = []

    def create(model_name, pretrained=None, cache_dir=None, device="cpu"):
        calls.append(model_name)
        if len(calls) > 1:
            raise Done
        return model.net, None, model.preprocess

    shim = types.ModuleType("open_clip")
    shim.create_model_and_transforms = create
    shim.get_tokenizer = lambda name: model.tokenizer
    saved = sys.modules.get("open_clip")
    sys.modules["open_clip"] = shim
    buf = io.StringIO()
    try:
        with cwd(root), contextlib.redirect_stdout(buf):
            try:
                runpy.run_path(str(ref / "VLMs" / "test_Variants_CLIP.py"), run_name="__main__")
            except Done:
                pass
    finally:
        if saved is not None:
            sys.modules["open_clip"] = saved
        else:
            del sys.modules["open_clip"]
    out: dict[str, dict[str, float]] = {}
    current = None
    for line in buf.getvalue().splitlines():
        m = re.search(r"=+ (\w+)\.json =+", line)
        if m:
            current = out.setdefault(m.group(1), {})
        m = re.match(r"Accuracy (image-to-text task|Image-P1-Neg|Image-P2-Neg|text-only task): (\S+)", line)
        if m and current is not None:
            current[{"image-to-text task": "itt_acc", "Image-P1-Neg": "itt_p1_acc", "Image-P2-Neg": "itt_p2_acc",
                     "text-only task": "tot_acc"}[m.group(1)]] = float(m.group(2))
    return out


def scpp_rows(ref: Path, data: Path, rng, model: Model, eqvl_eval, rows: list) -> None:
    root = cdata.make_scpp(ref, data / "sugarcrepe_pp", rng)
    res = eqvl_eval("sugarcrepe++", root)
    for stem, metrics in scpp_official(ref, root, model).items():
        for key, value in metrics.items():
            rows.append(("SugarCrepe++ (official test_Variants_CLIP.py)", f"{stem} {key}", res["subsets"][stem][key], value,
                         f"n={res['subsets'][stem]['n']} real records"))


# ------------------------------------------------------------------ What'sUp


def whatsup_official(ref: Path, data: Path, model: Model) -> dict[str, dict[str, float]]:
    """dataset_zoo's Controlled_Images (A, B), COCO_QA and VG_QA (one, two) read from `data`, scored with
    get_retrieval_scores_batched's recipe (N x 1 x K), then their `evaluate_scores`; the printed individual /
    pair / set accuracies are read back (percent in the print, fractions here)."""
    if importlib.util.find_spec("easydict") is None:
        shim = types.ModuleType("easydict")
        shim.EasyDict = type("EasyDict", (dict,), {"__getattr__": dict.__getitem__})
        sys.modules["easydict"] = shim
    out = {}
    with on_path(ref, forget=("dataset_zoo",)), cwd(data.parent):
        from dataset_zoo.aro_datasets import COCO_QA, VG_QA, Controlled_Images

        runs = {"controlled_a": (Controlled_Images, "A"), "controlled_b": (Controlled_Images, "B"), "coco_qa_one": (COCO_QA, "one"),
                "coco_qa_two": (COCO_QA, "two"), "vg_qa_one": (VG_QA, "one"), "vg_qa_two": (VG_QA, "two")}
        for key, (cls, subset) in runs.items():
            ds = cls(image_preprocess=model.preprocess, root_dir=data.name, subset=subset)
            scores = np.stack([model.pair_scores(ds[i]["image_options"][0], list(ds[i]["caption_options"])) for i in range(len(ds))])
            buf = io.StringIO()
            with contextlib.redirect_stdout(buf):
                ds.evaluate_scores(scores)
            nums = [float(x) / 100 for x in re.findall(r"(?:^|: )([0-9.]+)$", buf.getvalue(), flags=re.M)]
            out[key] = dict(zip(("acc", "pair_acc", "set_acc"), nums))
    return out


def whatsup_rows(ref: Path, data: Path, rng, model: Model, eqvl_eval, rows: list) -> None:
    folder = cdata.make_whatsup(data / "whatsup" / "data", rng)
    res = eqvl_eval("whatsup", folder)
    for key, metrics in whatsup_official(ref, folder, model).items():
        for m, value in metrics.items():
            rows.append(("What'sUp (official evaluate_scores)", f"{key} {m}", res["subsets"][key][m], value, f"n={res['subsets'][key]['n']}"))


# ------------------------------------------------------------------ MMVP-VLM


def mmvp_official(ref: Path, root: Path, model: Model) -> dict[str, float]:
    """scripts/evaluate_vlm.py run as a script on `root`, `clip` stood in by a module whose `load` returns the
    model eqvl evaluates (forward = logit_scale * normalised image @ text, as CLIP's) and `tokenize` its tokenizer."""
    net = model.net

    class Forward:
        def __call__(self, imgs, text):
            with torch.no_grad():
                im = torch.nn.functional.normalize(net.encode_image(imgs).float(), dim=-1)
                tx = torch.nn.functional.normalize(net.encode_text(text).float(), dim=-1)
                logits = net.logit_scale.exp() * im @ tx.T
            return logits, logits.T

    clip = types.ModuleType("clip")
    clip.load = lambda name, device="cpu": (Forward(), model.preprocess)
    clip.tokenize = lambda texts: model.tokenizer(texts)
    stubs = {"clip": clip}
    if importlib.util.find_spec("pandas") is None:  # imported by the script, never used
        stubs["pandas"] = types.ModuleType("pandas")
    saved = {k: sys.modules.get(k) for k in stubs}
    sys.modules.update(stubs)
    argv = sys.argv
    sys.argv = ["evaluate_vlm.py", "--directory", str(root)]
    try:
        with cwd(root), contextlib.redirect_stdout(io.StringIO()):
            result: dict[str, Any] = runpy.run_path(str(ref / "scripts" / "evaluate_vlm.py"), run_name="__main__")
    finally:
        sys.argv = argv
        for k, v in saved.items():
            if v is None:
                del sys.modules[k]
            else:
                sys.modules[k] = v
    return {k: v / 100 for k, v in next(iter(result["results"].values())).items()}


def mmvp_rows(ref: Path, data: Path, rng, model: Model, eqvl_eval, rows: list) -> None:
    root = cdata.make_mmvp(data / "mmvp", rng)
    res = eqvl_eval("mmvp-vlm", root)
    official = mmvp_official(ref, root, model)
    for cat, value in official.items():
        rows.append(("MMVP-VLM (official evaluate_vlm.py)", cat, res["subsets"][cat]["acc"], value, "15 pairs"))
    rows.append(("MMVP-VLM (official evaluate_vlm.py)", "average of the 9 patterns", res["metrics"]["acc"],
                 float(np.mean(list(official.values()))), "the paper's average"))


# ------------------------------------------------------------------ CREPE


def _pandas_standin() -> types.ModuleType:
    """crepe_eval_utils reads its CSV with pandas.read_csv (not installed here): a csv-module stand-in giving
    `df.columns` and `df[col].tolist()`, numbers converted as pandas would."""
    import csv

    def convert(v: str):
        for cast in (int, float):
            try:
                return cast(v)
            except ValueError:
                pass
        return v

    class Frame:
        def __init__(self, path):
            with open(path, newline="", encoding="utf-8") as handle:
                self.rows = list(csv.DictReader(handle))
            self.columns = list(self.rows[0]) if self.rows else []

        def __getitem__(self, col):
            return _Col([convert(r[col]) for r in self.rows])

        def __len__(self):
            return len(self.rows)

    class _Col(list):
        def tolist(self):
            return list(self)

    shim = types.ModuleType("pandas")
    shim.read_csv = Frame
    return shim


def crepe_official(ref: Path, root: Path, model: Model, files: dict[str, tuple[Path, str]]) -> dict[str, dict[str, float]]:
    """Per subset: crepe_compo_eval_open_clip's CsvDataset (its crop, its tokenised [caption] + negatives) in a
    batch-1 DataLoader and its `evaluate` (get_one2many_rank + get_one2many_metrics). Swapped: the model, open_clip's
    `tokenize` (the model's own tokenizer), pandas (stand-in above) and get_image_by_id's hard-coded VG folders."""
    shim = types.ModuleType("open_clip")
    shim.tokenize = model.tokenizer
    shim.create_model_and_transforms = None
    stubs = {"open_clip": shim}
    if importlib.util.find_spec("pandas") is None:
        stubs["pandas"] = _pandas_standin()
    saved = {k: sys.modules.get(k) for k in stubs}
    sys.modules.update(stubs)
    out = {}
    try:
        with on_path(ref, forget=("crepe_eval_utils", "crepe_compo_eval_open_clip", "crepe_params")):
            import crepe_compo_eval_open_clip as crepe

            def by_id(image_id):
                for sub in ("VG_100K", "VG_100K_2"):
                    if (root / sub / f"{image_id}.jpg").exists():
                        return Image.open(root / sub / f"{image_id}.jpg").convert("RGB")
                raise FileNotFoundError(image_id)

            for subset, (path, column) in files.items():
                args = types.SimpleNamespace(crop=True, one2many=True, hard_neg_key=column, csv_img_key="image_id",
                                             csv_caption_key="caption", device="cpu")
                ds = crepe.CsvDataset(str(path), args, model.preprocess)
                ds.get_image_by_id = by_id
                loader = torch.utils.data.DataLoader(ds, batch_size=1, shuffle=False, num_workers=0)
                with contextlib.redirect_stderr(io.StringIO()):
                    metrics = crepe.evaluate(model.net, {"val": types.SimpleNamespace(dataloader=loader)}, args)
                out[subset] = {f"recall@{k}": float(metrics[f"image_to_text_R@{k}"]) for k in (1, 3, 5, 10)}
                out[subset]["mean_rank"] = float(metrics["image_to_text_mean_rank"])
    finally:
        for k, v in saved.items():
            if v is None:
                del sys.modules[k]
            else:
                sys.modules[k] = v
    return out


def crepe_rows(ref: Path, data: Path, rng, model: Model, eqvl_eval, rows: list) -> None:
    """Generated systematicity + productivity files; then the REAL productivity rows of tests/data/crepe (images
    drawn under data/crepe_real_vg), split into rows without and with an exact tie (split_crepe_ties)."""
    from eqvl.benchmarks.crepe import find_files

    root = cdata.make_crepe(data / "crepe", rng)
    # their own generator: the real rows' images (and numbers) do not depend on which other flags ran
    real_vg = cdata.make_crepe_real_images(cdata.CREPE_REAL, data / "crepe_real_vg", np.random.default_rng(20))
    clean, ties = data / "crepe_real" / "no_ties", data / "crepe_real" / "ties"
    n_ties = cdata.split_crepe_ties(cdata.CREPE_REAL, clean, ties, model.tokenizer)
    real = ("--option", f"vg_root={real_vg}")
    runs = (("CREPE (official get_one2many_metrics)", root, root, "", (), False),
            ("CREPE real rows (official get_one2many_metrics)", clean, real_vg, " real rows without exact ties", real, False),
            ("CREPE real rows, exact ties only", ties, real_vg, f" of the {n_ties} real rows whose caption tokenises like a negative", real, True))
    for label, csvs, vg, what, extra, rank_only in runs:
        res = eqvl_eval("crepe", csvs, *extra)
        files = {subset: (path, column) for subset, path, column in find_files(csvs)}
        for subset, metrics in crepe_official(ref, vg, model, files).items():
            for key, value in metrics.items():
                if rank_only and key != "mean_rank":
                    continue
                mine, scale = res["subsets"][subset][key], 100 if key == "mean_rank" else 1
                rows.append((label, f"{subset} {key}", mine / scale, value / scale,
                             f"n={res['subsets'][subset]['n']}{what}" + ("; a rank, shown /100" if key == "mean_rank" else "")))
