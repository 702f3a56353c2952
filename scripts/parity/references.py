"""Run each benchmark's reference code on the parity files, with its model part replaced.

Every function takes the path of a local checkout of the reference repository and calls
that repository's own reader / metric / scorer code, imported from the checkout (nothing of
theirs is copied here). Only the model part is swapped: where the reference builds its own
model (OpenAI CLIP, LXMERT...), we hand it the same open_clip model eqvl evaluates, or, for
CLIP_benchmark's retrieval, a stand-in model that returns eqvl's own embeddings.
"""

from __future__ import annotations

import ast
import contextlib
import importlib.util
import json
import os
import runpy
import sys
import types
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch


@contextlib.contextmanager
def on_path(folder: Path, forget: tuple[str, ...] = ()):
    """Import from a checkout, then drop it (and its generic top-level names) again."""
    sys.path.insert(0, str(folder))
    try:
        yield
    finally:
        sys.path.remove(str(folder))
        for name in [m for m in sys.modules if m.split(".")[0] in forget]:
            del sys.modules[name]


@contextlib.contextmanager
def cwd(folder: Path):
    old = os.getcwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(old)


def _load_module(path: Path, name: str) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


# ------------------------------------------------------------------ the model part


class Model:
    """The open_clip model eqvl evaluates, with the two calls reference code makes."""

    def __init__(self, encoder: Any):
        self.net, self.preprocess, self.tokenizer = encoder.model.eval(), encoder.preprocess, encoder.tokenizer

    @torch.no_grad()
    def image(self, pixels: torch.Tensor) -> np.ndarray:
        return self.net.encode_image(pixels).float().numpy()

    @torch.no_grad()
    def text(self, captions: list[str]) -> np.ndarray:
        return self.net.encode_text(self.tokenizer(captions)).float().numpy()

    def pair_scores(self, pixels: torch.Tensor, captions: list[str]) -> np.ndarray:
        """ARO's get_retrieval_scores_batched recipe for one item: L2-normalise in numpy, dot."""
        im, tx = self.image(pixels[None]), self.text(captions)
        im = im / np.linalg.norm(im, axis=1, keepdims=True)
        tx = tx / np.linalg.norm(tx, axis=1, keepdims=True)
        return im @ tx.T  # [1 image, len(captions)]


# ------------------------------------------------------------------ CLIP_benchmark


def clip_benchmark_retrieval(ref: Path, ann_file: Path, image_emb: dict[str, np.ndarray],
                             text_emb: dict[str, np.ndarray]) -> dict[str, float]:
    """CLIP_benchmark's Flickr reader + zeroshot_retrieval.evaluate, fed eqvl's embeddings
    (image name -> row, caption -> row) through a stand-in model and tokenizer."""
    with on_path(ref, forget=("clip_benchmark",)):
        from clip_benchmark.datasets.flickr import Flickr
        from clip_benchmark.metrics import zeroshot_retrieval

        ds = Flickr(root=str(ann_file.parent), ann_file=str(ann_file))
        names = [img for img, _ in ds.data]
        texts = sorted(text_emb)
        img_rows = torch.from_numpy(np.stack([image_emb[n] for n in names]))
        txt_rows = torch.from_numpy(np.stack([text_emb[t] for t in texts]))
        index = {t: k for k, t in enumerate(texts)}

        class Standin(torch.nn.Module):
            def encode_image(self, idx):
                return img_rows[idx]

            def encode_text(self, idx):
                return txt_rows[idx]

        items = [(torch.tensor(k), caps) for k, (_, caps) in enumerate(ds.data)]
        loader = torch.utils.data.DataLoader(items, batch_size=16, shuffle=False,
                                             collate_fn=lambda b: (torch.stack([x[0] for x in b]), [x[1] for x in b]))
        tokenizer = lambda caps: torch.tensor([index[c] for c in caps])  # noqa: E731
        return zeroshot_retrieval.evaluate(Standin(), loader, tokenizer, "cpu", amp=False, recall_k_list=[1, 5, 10])


def clip_benchmark_sugarcrepe(ref: Path, data_dir: Path, files: tuple[str, ...], model: Model) -> dict[str, float]:
    """CLIP_benchmark's SugarCrepe dataset + image_caption_selection.evaluate, one run per file (its `acc`)."""
    out = {}
    with on_path(ref, forget=("clip_benchmark",)):
        from clip_benchmark.datasets.sugar_crepe import SugarCrepe
        from clip_benchmark.metrics import image_caption_selection

        for stem in files:
            ds = SugarCrepe(root=str(data_dir / "val2017"), ann_file=str(data_dir / "data" / f"{stem}.json"), transform=model.preprocess)
            loader = torch.utils.data.DataLoader(ds, batch_size=8, shuffle=False,
                                                 collate_fn=lambda b: (torch.stack([x[0] for x in b]), [x[1] for x in b]))
            out[stem] = image_caption_selection.evaluate(model.net, loader, model.tokenizer, "cpu", amp=False)["acc"]
    return out


# ------------------------------------------------------------------ ARO (mertyg/vision-language-models-are-bows)


def _symmetric_relations(ref: Path) -> list[str]:
    """The `symmetric = [...]` list of the official replication notebook, read from the checkout."""
    nb = json.loads((ref / "notebooks" / "Replicate ARO! VG-Relation, VG-Attribution.ipynb").read_text(encoding="utf-8"))
    for cell in nb["cells"]:
        if cell["cell_type"] != "code":
            continue
        for stmt in ast.parse("".join(cell["source"])).body:
            if isinstance(stmt, ast.Assign) and getattr(stmt.targets[0], "id", "") == "symmetric":
                return ast.literal_eval(stmt.value)
    raise RuntimeError("no `symmetric = [...]` cell in the ARO notebook")


def aro_official(ref: Path, data_dir: Path, model: Model) -> dict[str, float]:
    """VG_Relation / VG_Attribution from ARO's dataset_zoo (its PIL crop, its evaluate_scores), scored
    with get_retrieval_scores_batched's recipe; macro as the notebook takes it (symmetric relations out)."""
    if importlib.util.find_spec("easydict") is None:  # ARO wraps each item in an EasyDict; a dict with attributes will do
        shim = types.ModuleType("easydict")
        shim.EasyDict = type("EasyDict", (dict,), {"__getattr__": dict.__getitem__})
        sys.modules["easydict"] = shim
    out = {}
    with on_path(ref, forget=("dataset_zoo",)):
        from dataset_zoo.aro_datasets import VG_Attribution, VG_Relation

        for key, cls in (("vg_relation", VG_Relation), ("vg_attribution", VG_Attribution)):
            ds = cls(image_preprocess=model.preprocess, root_dir=str(data_dir))
            scores = np.stack([model.pair_scores(item["image_options"][0], list(item["caption_options"]))
                               for item in (ds[i] for i in range(len(ds)))])  # N x 1 x 2, caption options [false, true]
            records = ds.evaluate_scores(scores)
            if key == "vg_relation":
                symmetric = set(_symmetric_relations(ref))
                records = [r for r in records if r["Relation"] not in symmetric]
            out[key] = float(np.mean([r["Accuracy"] for r in records]))
    return out


# ------------------------------------------------------------------ VALSE (Heidelberg-NLP/VALSE)

#: file stem -> VALSE piece (the paper's grouping of instruments into phenomena)
VALSE_PIECES = {"existence": "existence", "plurals": "plurality", "counting_hard": "counting",
                "counting-small-quant": "counting", "counting_adversarial": "counting", "relation": "relations",
                "action-replacement": "actions", "actant-swap": "actions", "coreference-standard": "coreference",
                "coreference-hard": "coreference", "foil-it": "foil-it"}


def valse_official(ref: Path, data_dir: Path, model: Model, load_image: Callable) -> dict[str, dict[str, float]]:
    """VALSE's read_foils + its eval scripts' rule (mturk.caption >= 2 kept; a pair is right when the
    caption outscores the foil; accuracy per instrument file); a piece = mean of its instruments."""
    inst: dict[str, float] = {}
    with on_path(ref, forget=("read_foil_dataset",)):
        from read_foil_dataset import read_foils

        for stem in VALSE_PIECES:
            count = right = 0
            for foil in read_foils(str(data_dir / "data" / f"{stem}.json")).values():
                if foil["mturk"]["caption"] >= 2:
                    pixels = model.preprocess(load_image(data_dir / "images" / foil["image_file"]))
                    s = model.pair_scores(pixels, [foil["caption"], foil["foil"]])[0]
                    right += int(s[0] > s[1])
                    count += 1
            inst[stem] = right / count
    pieces: dict[str, list[float]] = {}
    for stem, acc in inst.items():
        pieces.setdefault(VALSE_PIECES[stem], []).append(acc)
    return {"instruments": inst, "phenomena": {p: float(np.mean(v)) for p, v in pieces.items()}}


# ------------------------------------------------------------------ SugarCrepe (RAIVNLab/sugar-crepe)


def sugarcrepe_official(ref: Path, data_dir: Path, files: tuple[str, ...], model: Model) -> dict[str, float]:
    """sugar-crepe's main_eval.evaluate, as its __main__ calls it, with our model / tokenizer / transform."""
    main_eval = _load_module(ref / "main_eval.py", "sugarcrepe_main_eval")
    dataset = {c: json.load(open(data_dir / "data" / f"{c}.json", encoding="utf-8")) for c in files}
    return main_eval.evaluate(str(data_dir / "val2017"), dataset, model.net, model.tokenizer, model.preprocess, "cpu")


# ------------------------------------------------------------------ EqBen (Wangt-CN/EqBen)


def eqben_official(ref: Path, data_dir: Path) -> tuple[dict[str, dict[str, float]], dict[str, np.ndarray]]:
    """EqBen's evaluate_eqben_locally.py run as is, in a folder whose src_file/ holds the answer key and
    eqvl's exported prediction.npy; returns its `scores` ({subset: {text, image, group}}) and the
    per-twin cells it scored them from ({c0i0: [twins], ...})."""
    with cwd(data_dir):
        scope = runpy.run_path(str(ref / "evaluate_eqben_locally.py"), run_name="__main__")
    scores = {k: {m: float(v) for m, v in d.items()} for k, d in scope["scores"].items()}
    return scores, dict(scope["eqben_score_dict"].score_list_dataset)
