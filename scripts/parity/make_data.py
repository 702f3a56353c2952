"""Small benchmark files in each benchmark's official layout, for the side-by-side parity run.

Everything is drawn from one seed, so two runs write the same bytes. The files are built
to exercise exactly the places where eqvl used to differ from the reference code:

* retrieval: CLIP_benchmark's `flickr30k_test_karpathy.txt` with commas inside captions and
  caption strings shared by two images (real Flickr30k / COCO have such duplicates);
* ARO: VG boxes that run past the image edge (PIL pads them with black);
* VALSE: phenomena whose instruments differ in size (counting, actions, coreference);
* SugarCrepe: the 7 official files; EqBen: the shuffled leaderboard file + the answer key
  (`src_file/private_info.json`, `private_random_idx.json`) for the official local scorer.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

COLORS = ["red", "blue", "green", "yellow", "white", "black", "purple", "orange"]
THINGS = ["dog", "cat", "cube", "ball", "horse", "chair", "kite", "boat"]
PLACES = ["grass", "a table", "the beach", "a road", "snow", "a sofa"]


def _image(path: Path, rng: np.random.Generator, size: tuple[int, int] | None = None) -> tuple[int, int]:
    """A noisy picture with a few coloured blocks, so a random-init model still tells images apart."""
    w, h = size or (int(rng.integers(72, 120)), int(rng.integers(56, 96)))
    pixels = rng.integers(0, 60, (h, w, 3), dtype=np.uint8)
    for _ in range(3):
        x0, y0 = int(rng.integers(0, w - 8)), int(rng.integers(0, h - 8))
        pixels[y0:y0 + int(rng.integers(8, 40)), x0:x0 + int(rng.integers(8, 40))] = rng.integers(0, 256, 3, dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)
    return w, h


def _write_json(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=1), encoding="utf-8")


def _caption(rng: np.random.Generator) -> str:
    c1, c2 = rng.choice(COLORS, 2, replace=False)
    t1, t2 = rng.choice(THINGS, 2, replace=False)
    return f"A {c1} {t1}, next to a {c2} {t2}, on {rng.choice(PLACES)}."


def make_retrieval(root: Path, rng: np.random.Generator, n_images: int = 60, shared_pairs: int = 20) -> Path:
    """flickr30k_test_karpathy.txt, one caption per image; images 2j and 2j+1 (j < shared_pairs) share it word
    for word, so their scores tie exactly and top-k's tie-break decides which of the two is retrieved."""
    lines = ["image,caption"]
    for k in range(n_images):
        name = f"{1000000 + k}.jpg"
        _image(root / name, rng)
        caption = lines[-1].split(".jpg,", 1)[1] if k % 2 == 1 and k // 2 < shared_pairs else _caption(rng)
        lines.append(f"{name},{caption}")
    (root / "flickr30k_test_karpathy.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root / "flickr30k_test_karpathy.txt"


def make_aro(root: Path, rng: np.random.Generator) -> None:
    """visual_genome_relation.json / visual_genome_attribution.json, half the boxes past the edge."""
    relations = ["on", "eating", "holding", "behind", "wearing", "next to", "riding"]  # "next to" is symmetric
    rel, attr = [], []
    for k in range(70):
        name = f"vg_{k}.png"
        w, h = _image(root / "images" / name, rng)
        bw, bh = int(rng.integers(20, w)), int(rng.integers(16, h))
        x, y = (int(rng.integers(w // 2, w)), int(rng.integers(h // 2, h))) if k % 2 else (int(rng.integers(0, w - bw)), int(rng.integers(0, h - bh)))
        box = {"bbox_x": x, "bbox_y": y, "bbox_w": bw, "bbox_h": bh}
        a, b = rng.choice(THINGS, 2, replace=False)
        r = relations[k % len(relations)]
        rel.append({"image_id": str(k), "image_path": name, **box, "relation_name": r,
                    "true_caption": f"the {a} is {r} the {b}", "false_caption": f"the {b} is {r} the {a}"})
        pair = [["white", "black"], ["red", "blue"], ["small", "large"]][0 if k < 30 else 1 if k < 58 else 2]  # 30, 28, 12 items
        attr.append({"image_id": str(k), "image_path": name, **box, "attributes": pair,
                     "true_caption": f"the {pair[0]} {a} and the {pair[1]} {b}", "false_caption": f"the {pair[1]} {a} and the {pair[0]} {b}"})
    _write_json(root / "visual_genome_relation.json", rel)
    _write_json(root / "visual_genome_attribution.json", attr)


#: instrument file stem (as VALSE's own config.py spells them) -> examples
VALSE_FILES = {"existence": 8, "plurals": 6, "counting_hard": 12, "counting-small-quant": 4, "counting_adversarial": 7,
               "relation": 6, "action-replacement": 10, "actant-swap": 3, "coreference-standard": 9,
               "coreference-hard": 4, "foil-it": 5}


def make_valse(root: Path, rng: np.random.Generator) -> None:
    """The per-instrument JSONs, images under images/, a few examples below the mturk.caption >= 2 filter."""
    for stem, n in VALSE_FILES.items():
        records = {}
        for k in range(n):
            name = f"{stem}_{k}.png"
            _image(root / "images" / name, rng)
            cap = _caption(rng)
            records[f"{stem}_test_{k}"] = {
                "dataset": "visual7w", "dataset_idx": name, "linguistic_phenomena": stem, "image_file": name,
                "caption": cap, "foil": cap.replace("next to", "far from") if k % 2 else _caption(rng),
                "classes": "x", "classes_foil": "y",
                "mturk": {"foil": 0, "caption": 1 if k % 4 == 3 else int(rng.integers(2, 4)), "other": 0}}  # 1 vote: dropped
        _write_json(root / "data" / f"{stem}.json", records)


SUGARCREPE_FILES = ("add_att", "add_obj", "replace_att", "replace_obj", "replace_rel", "swap_att", "swap_obj")


def make_sugarcrepe(root: Path, rng: np.random.Generator) -> None:
    """data/<file>.json ({id: {filename, caption, negative_caption}}), images under val2017/."""
    for stem in SUGARCREPE_FILES:
        records = {}
        for k in range(int(rng.integers(6, 12))):
            name = f"{stem}_{k:012d}.jpg"
            _image(root / "val2017" / name, rng)
            cap = _caption(rng)
            records[str(k * 3)] = {"filename": name, "caption": cap, "negative_caption": _caption(rng)}
        _write_json(root / "data" / f"{stem}.json", records)


EQBEN_SUBSETS = ("eqbenag", "eqbenyoucook2", "eqbengebc", "eqbenkubric_loc", "eqbenkubric_attr", "eqbenkubric_cnt", "eqbensd")


def make_eqben(root: Path, rng: np.random.Generator, twins_per_subset: int = 8) -> None:
    """ann_json_finegrained_random.json (shuffled rows) + src_file/ answer key, as the official evaluator reads it."""
    info, rows = [], []
    cnt = 0
    for subset in EQBEN_SUBSETS:
        for t in range(twins_per_subset):
            ims = [f"{subset}/v{t}/{j}.png" for j in (0, 1)]
            for im in ims:
                _image(root / "image" / im, rng, size=(64, 64))
            caps = [_caption(rng), _caption(rng)]
            for name, c, i in (("c0i0", 0, 0), ("c0i1", 0, 1), ("c1i0", 1, 0), ("c1i1", 1, 1)):
                info.append({"dataset": subset, "name": name, "sample_cnt": cnt})
                rows.append({"image": ims[i], "caption": caps[c]})
            cnt += 1
    perm = rng.permutation(len(info))
    _write_json(root / "ann_json_finegrained_random.json", [rows[p] for p in perm])
    _write_json(root / "src_file" / "private_info.json", info)
    _write_json(root / "src_file" / "private_random_idx.json", perm.tolist())


def make_all(root: Path, seed: int = 0) -> dict[str, Path]:
    """Write every benchmark's files under `root`; returns {benchmark: its folder}."""
    rng = np.random.default_rng(seed)
    dirs = {name: root / name for name in ("retrieval", "aro", "valse", "sugarcrepe", "eqben")}
    make_retrieval(dirs["retrieval"], rng)
    make_aro(dirs["aro"], rng)
    make_valse(dirs["valse"], rng)
    make_sugarcrepe(dirs["sugarcrepe"], rng)
    make_eqben(dirs["eqben"], rng)
    return dirs
