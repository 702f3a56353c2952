"""Parity files for VL-CheckList, SugarCrepe++, What'sUp and MMVP-VLM, in their official layouts.

VL-CheckList and SugarCrepe++ take a slice of the REAL annotation records from the local checkout
(`--vl-checklist`, `--scpp`), so the readers meet the released files' quirks (three-caption SWiG
records, HAKE's sub-folders, repeated records, a caption2 equal to its caption); only the images
are drawn here. What'sUp and MMVP-VLM ship no annotations in their repositories (they are on
Google Drive / the Hub), so their files are generated in the documented layout.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from make_data import COLORS, THINGS, _image

#: (type, source) of the VL-CheckList corpus files sliced for the parity run
VLC_FILES = (("Attribute/color", "vg"), ("Attribute/action", "vg"), ("Attribute/action", "vaw"), ("Relation/spatial", "vg"),
             ("Relation/action", "swig"), ("Object/Size/small", "vg_subj"), ("Object/Size/small", "swig_destination"),
             ("Object/Location/margin", "hake"))
#: the committed excerpt of real CREPE productivity rows (tests/data/crepe/SOURCE.md)
CREPE_REAL = Path(__file__).resolve().parents[2] / "tests" / "data" / "crepe"
SCPP_FILES = ("replace_att", "replace_obj", "replace_rel", "swap_att", "swap_obj")


def make_vl_checklist(ref: Path, root: Path, rng: np.random.Generator, per_file: int = 12, missing: int = 2) -> Path:
    """The corpus yaml files and the first `per_file` records of each listed data file; `missing` images per
    file are left out (data_loader.py drops those records silently)."""
    for type_, source in VLC_FILES:
        rel = Path("corpus/v1") / type_ / f"{source}.yaml"
        if not (ref / rel).is_file():
            continue
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ref / rel, root / rel)
        conf = dict(line.split(":", 1) for line in (ref / rel).read_text(encoding="utf-8").splitlines() if ":" in line)
        anno, img_root = conf["ANNO_PATH"].strip().strip('"'), conf["IMG_ROOT"].strip().strip('"')
        records = json.loads((ref / anno).read_text(encoding="utf-8"))[:per_file]
        (root / anno).parent.mkdir(parents=True, exist_ok=True)
        (root / anno).write_text(json.dumps(records), encoding="utf-8")
        drop = {r[0] for r in records[-missing:]} if missing else set()
        for img, _ in records:
            target = root / img_root / img
            if img not in drop and not target.exists():
                _image(target, rng)
    return root


def make_scpp(ref: Path, root: Path, rng: np.random.Generator, per_file: int = 8) -> Path:
    """`data/<file>.json` (the first records of each real file) + `images/<filename>`."""
    for stem in SCPP_FILES:
        records = json.loads((ref / "data" / f"{stem}.json").read_text(encoding="utf-8"))
        keep = records[:per_file] + [r for r in records if r["caption"] == r["caption2"]][:1]
        (root / "data").mkdir(parents=True, exist_ok=True)
        (root / "data" / f"{stem}.json").write_text(json.dumps(keep), encoding="utf-8")
        for rec in keep:
            if not (root / "images" / rec["filename"]).exists():
                _image(root / "images" / rec["filename"], rng)
    return root


def make_whatsup(data: Path, rng: np.random.Generator) -> Path:
    """`data/` (the folder name the official paths start with): Controlled-A / -B and the four QA files."""
    preps = {"a": ("left_of", "right_of", "on", "under"), "b": ("left_of", "right_of", "in-front_of", "behind")}
    for sub, (ann, folder) in {"a": ("controlled_images_dataset.json", "controlled_images"),
                               "b": ("controlled_clevr_dataset.json", "controlled_clevr")}.items():
        recs = []
        for j in range(4):
            a, b = THINGS[j], THINGS[(j + 3) % len(THINGS)]
            for p in preps[sub]:
                name = f"{a}_{p}_{b}.jpeg"
                _image(data / folder / name, rng)
                words = [f"A {a} {q.replace('_', ' ').replace('-', ' ')} a {b}" for q in preps[sub]]
                recs.append({"image_path": f"data/{folder}/{name}", "caption_options": [words[preps[sub].index(p)]] +
                             [w for q, w in zip(preps[sub], words) if q != p]})
        (data / ann).write_text(json.dumps(recs), encoding="utf-8")
    # every preposition and its opposite appear as a true caption: evaluate_scores' confusion table needs both
    lr = [("left", "right"), ("right", "left")]
    qa = {"coco_qa_one_obj.json": ("val2017", "{:012d}.jpg", lr + [("top", "bottom"), ("bottom", "top")]),
          "coco_qa_two_obj.json": ("val2017", "{:012d}.jpg", [("left of", "right of"), ("right of", "left of"), ("above", "below"), ("below", "above")]),
          "vg_qa_one_obj.json": ("vg_images", "{}.jpg", lr),
          "vg_qa_two_obj.json": ("vg_images", "{}.jpg", [("in front of", "behind"), ("behind", "in front of"), ("left of", "right of"), ("right of", "left of")])}
    for k, (name, (folder, pattern, pairs)) in enumerate(qa.items()):
        rows = []
        for i in range(12):
            ident = 1000 * (k + 1) + i
            _image(data / folder / pattern.format(ident), rng)
            true, false = pairs[i % len(pairs)]
            c = COLORS[i % len(COLORS)]
            if name.endswith("one_obj.json"):
                rows.append([ident, f"a {c} {THINGS[i % 8]} on the {true}", f"a {c} {THINGS[i % 8]} on the {false}"])
            else:
                rows.append([ident, f"a {c} {THINGS[i % 8]} {true} a {THINGS[(i + 1) % 8]}", f"a {c} {THINGS[i % 8]} {false} a {THINGS[(i + 1) % 8]}"])
        (data / name).write_text(json.dumps(rows), encoding="utf-8")
    return data


MMVP_PATTERNS = ("Orientation", "Presence", "State", "Quantity", "Spatial", "Color", "Structural_Character", "Text", "Camera_Perspective")


def make_mmvp(root: Path, rng: np.random.Generator) -> Path:
    """The released shape: 9 patterns x 15 pairs, `Questions.csv` + `MLLM_VLM Images/<pattern>/<id>.jpg`."""
    lines = ["Question ID,Type,Statement"]
    qid = 0
    for pattern in MMVP_PATTERNS:
        for _ in range(30):
            qid += 1
            _image(root / "MLLM_VLM Images" / pattern / f"{qid}.jpg", rng, size=(48, 40))
            c, t = COLORS[int(rng.integers(len(COLORS)))], THINGS[int(rng.integers(len(THINGS)))]
            lines.append(f'{qid},{pattern},"the {t} is {c}, facing {"left" if qid % 2 else "right"}"')
    (root / "Questions.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


def make_crepe(root: Path, rng: np.random.Generator, ties: bool = False) -> Path:
    """Systematicity (laion, seen / unseen) and productivity (atom / negate / swap, complexity 4-5) CSVs in the
    columns crepe_eval_utils reads; images split over VG_100K / VG_100K_2, some boxes past the edge, some
    negative lists empty. With `ties`, every 7th row also lists its caption as a negative: the official
    batched `image @ texts.T` scores the two identical texts up to 1 ulp apart, so its rank there is
    float noise (see docs/guide/benchmarks.md, CREPE); the parity table is run without."""
    import csv

    def caption(k: int) -> str:
        return f"a {COLORS[k % len(COLORS)]} {THINGS[k % len(THINGS)]} on {THINGS[(k + 3) % len(THINGS)]}"

    def rows(n: int, base: int, columns: list[str]) -> list[dict]:
        out = []
        for k in range(n):
            ident = base + k
            w, h = _image(root / ("VG_100K" if k % 3 else "VG_100K_2") / f"{ident}.jpg", rng)
            x, y = int(rng.integers(0, w - 8)), int(rng.integers(0, h - 8))
            row = {"region_id": str(k), "caption": caption(ident), "x": x, "y": y, "image_id": ident,
                   "width": int(rng.integers(8, w)), "height": int(rng.integers(8, h))}  # may run past the edge
            for col in columns:
                negs = [caption(ident + j) for j in range(1, int(rng.integers(0, 7)) + 1)]
                if ties and k % 7 == 3:
                    negs.append(row["caption"])
                row[col] = repr(negs)
            out.append(row)
        return out

    def write(path: Path, table: list[dict]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(table[0]))
            writer.writeheader()
            writer.writerows(table)

    syst_cols = [f"valid_hard_negs_{t}" for t in ("atom", "comp", "combined")]
    for j, split in enumerate(("seen_compounds", "unseen_compounds")):
        write(root / "syst_hard_negatives" / f"syst_vg_hard_negs_{split}_in_laion.csv", rows(14, 100 * (j + 1), syst_cols))
    for j, kind in enumerate(("atom", "negate", "swap")):
        for c in (4, 5):
            write(root / "prod_hard_negatives" / kind / f"prod_vg_hard_negs_{kind}_complexity_{c}.csv", rows(10, 1000 * (j + 1) + 100 * c, ["hard_negs"]))
    return root


def make_crepe_real_images(csv_root: Path, vg: Path, rng: np.random.Generator) -> Path:
    """A VG-sized (800 x 600) picture per image id of the real CSV rows under `csv_root`, odd ids in VG_100K,
    even ids in VG_100K_2 (both of the official lookup's folders are used)."""
    import csv

    for path in sorted(csv_root.rglob("*.csv")):
        with path.open(newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                target = vg / ("VG_100K" if int(row["image_id"]) % 2 else "VG_100K_2") / f"{row['image_id']}.jpg"
                if not target.exists():
                    _image(target, rng, size=(800, 600))
    return vg


def split_crepe_ties(src: Path, clean: Path, ties: Path, tokenize) -> int:
    """Copy each CSV under `src` twice, row lines unchanged: rows whose caption the model's tokenizer turns into
    the same tokens as one of its negatives (a swap row listing the caption itself, or long captions cut at
    the context length) go to `ties`, the rest to `clean`. On those rows the official batched scores of
    equal inputs differ by an ulp, so its rank there is float noise (docs/guide/benchmarks.md, CREPE)."""
    import ast
    import csv

    moved = 0
    for path in sorted(src.rglob("*.csv")):
        lines = path.read_text(encoding="utf-8").splitlines()
        keep: dict[Path, list[str]] = {clean: [lines[0]], ties: [lines[0]]}
        for line, row in zip(lines[1:], csv.DictReader(lines)):
            texts = [row["caption"]] + [str(n) for n in ast.literal_eval(row["hard_negs"])]
            tokens = np.asarray(tokenize(texts))
            tied = any((tokens[j] == tokens[0]).all() for j in range(1, len(texts)))
            keep[ties if tied else clean].append(line)
            moved += tied
        for root, out in keep.items():
            if len(out) > 1:
                (root / path.relative_to(src)).parent.mkdir(parents=True, exist_ok=True)
                (root / path.relative_to(src)).write_text("\n".join(out) + "\n", encoding="utf-8")
    return moved
