"""ARO (Yuksekgonul et al., ICLR 2023): Attribution, Relation and Order.

* VG-Relation / VG-Attribution: a box cropped from a Visual Genome image, its true
  caption and one with the relation's arguments / the attributes swapped. Reported as
  the official code does: macro-average over relations (the symmetric ones excluded),
  and over attribute pairs with at least `min_pair_count` (25) examples.
* COCO-Order / Flickr30k-Order: every test caption against 4 word-order perturbations.
  The release ships only the Karpathy test captions (BLIP's coco_karpathy_test.json /
  flickr30k_test.json) and the official code draws the perturbations at run time with
  spaCy POS tags, unseeded. Here they are drawn deterministically from `seed`, with a
  small WordNet/rule tagger standing in for spaCy (no model can be downloaded), so the
  negatives are equivalent in kind but not word-for-word the paper's. Records that
  already carry `caption_options` (true caption first) are used as they are.

Strict comparisons: a tie is wrong (the official argmax would count an Order tie as
right). A perturbation that equals the true caption after normalisation is redrawn
and, if it cannot differ (too few words), left out of that item.
"""

from __future__ import annotations

import functools
import re
from collections import OrderedDict
from pathlib import Path
from typing import Any, Callable

import numpy as np

from eqvl import metrics
from eqvl.benchmarks._common import check_options, chosen_subsets, layout_error, text_field
from eqvl.benchmarks.base import Benchmark, BenchmarkData, register_benchmark
from eqvl.data.paths import resolve_data_path
from eqvl.data.records import ImageRef, ScoreItem
from eqvl.errors import DataError, EqvlError
from eqvl.io import read_json

SUBSETS = OrderedDict(
    [
        ("vg_relation", ("visual_genome_relation.json",)),
        ("vg_attribution", ("visual_genome_attribution.json",)),
        ("coco_order", ("coco_karpathy_test.json", "coco_order.json")),
        ("flickr30k_order", ("flickr30k_test.json", "flickr30k_order.json")),
    ]
)

#: relations excluded from VG-Relation's macro accuracy, as listed in the ARO code
SYMMETRIC_RELATIONS = frozenset(
    "adjusting|attached to|between|bigger than|biting|boarding|brushing|chewing|cleaning|climbing|close to|coming from|"
    "coming out of|contain|crossing|dragging|draped over|drinking|drinking from|driving|driving down|driving on|eating from|"
    "eating in|enclosing|exiting|facing|filled with|floating in|floating on|flying|flying above|flying in|flying over|"
    "flying through|full of|going down|going into|going through|grazing in|growing in|growing on|guiding|hanging from|"
    "hanging in|hanging off|hanging over|higher than|holding onto|hugging|in between|jumping off|jumping on|jumping over|"
    "kept in|larger than|leading|leaning over|leaving|licking|longer than|looking in|looking into|looking out|looking over|"
    "looking through|lying next to|lying on top of|making|mixed with|mounted on|moving|on the back of|on the edge of|"
    "on the front of|on the other side of|opening|painted on|parked at|parked beside|parked by|parked in|parked in front of|"
    "parked near|parked next to|perched on|petting|piled on|playing|playing in|playing on|playing with|pouring|reaching for|"
    "reading|reflected on|riding on|running in|running on|running through|seen through|sitting behind|sitting beside|"
    "sitting by|sitting in front of|sitting near|sitting next to|sitting under|skiing down|skiing on|sleeping in|sleeping on|"
    "smiling at|sniffing|splashing|sprinkled on|stacked on|standing against|standing around|standing behind|standing beside|"
    "standing in front of|standing near|standing next to|staring at|stuck in|surrounding|swimming in|swinging|talking to|"
    "topped with|touching|traveling down|traveling on|tying|typing on|underneath|wading in|waiting for|walking across|"
    "walking by|walking down|walking next to|walking through|working in|working on|worn on|wrapped around|wrapped in|by|of|"
    "near|next to|with|beside|on the side of|around".split("|")
)


# ---------------------------------------------------------------- caption normalisation + perturbations


def pre_caption(caption: str, max_words: int = 30) -> str:
    """BLIP's caption normalisation used by the ARO code: lower-case, drop .!"()*#:;~,
    collapse spaces, keep the first `max_words` words."""
    caption = re.sub(r"([.!\"()*#:;~])", " ", caption.lower())
    caption = re.sub(r"\s{2,}", " ", caption).rstrip("\n").strip(" ")
    words = caption.split(" ")
    return " ".join(words[:max_words]) if len(words) > max_words else caption


_FUNCTION = frozenset(
    "a an the this that these those some any each every no another its their his her my our your "
    "on in at of to from with without into onto over under above below behind beside besides between by near next "
    "across along around through toward towards up down off out inside outside upon against among beneath underneath "
    "for about after before during while as than like via atop "
    "and or but nor so yet "
    "is are was were be been being am has have had do does did will would can could should may might must "
    "it they he she we you i them him us me who whom which what there here "
    "not very too also just only".split()
)
_NUMBERS = frozenset("one two three four five six seven eight nine ten eleven twelve several many few".split())
_ADJ_PREFERRED = frozenset(
    "white black red blue green yellow brown gray grey orange pink purple silver golden gold tan beige "
    "large small big little tall short long old young new wooden metal plastic empty full open closed dark light "
    "bright huge tiny giant round square wet dry clean dirty hot cold warm busy sunny cloudy snowy grassy sandy "
    "colorful striped fresh ripe sliced".split()
)
_TOKEN = re.compile(r"[A-Za-z0-9]+(?:['’][A-Za-z]+)?|[^\sA-Za-z0-9]")


def _tokens(text: str) -> list[str]:
    return _TOKEN.findall(text)


@functools.lru_cache(maxsize=65536)
def _tag(word: str) -> str:
    """'NOUN', 'ADJ' or 'OTHER': a stand-in for spaCy's NN*/JJ* tags (see module docstring)."""
    w = word.lower()
    if not w[:1].isalpha() or w in _FUNCTION or w in _NUMBERS:
        return "OTHER"
    if w in _ADJ_PREFERRED:
        return "ADJ"
    try:
        from eqvl.augment.wordnet import get_wordnet

        wn = get_wordnet()
    except Exception:  # the tagger degrades to suffix rules without WordNet
        wn = None
    if wn is not None:
        poses = {p for p in "nva" if wn.morphy(w, p)}
        if (w.endswith("ing") or w.endswith("ed")) and "v" in poses:
            return "OTHER"
        if "a" in poses and "n" not in poses:
            return "ADJ"
        if "n" in poses:
            return "NOUN"
        if "a" in poses:
            return "ADJ"
        return "OTHER"
    if w.endswith(("ing", "ed", "ly")):
        return "OTHER"
    return "NOUN"


def _permute(tokens: list[str], idx: list[int], rng: np.random.Generator) -> None:
    if len(idx) > 1:
        vals = [tokens[i] for i in idx]
        for i, j in zip(idx, rng.permutation(len(vals))):
            tokens[i] = vals[j]


def shuffle_nouns_and_adj(text: str, rng: np.random.Generator) -> str:
    toks = _tokens(text)
    tags = [_tag(t) for t in toks]
    _permute(toks, [i for i, t in enumerate(tags) if t == "NOUN"], rng)
    _permute(toks, [i for i, t in enumerate(tags) if t == "ADJ"], rng)
    return " ".join(toks)


def shuffle_allbut_nouns_and_adj(text: str, rng: np.random.Generator) -> str:
    toks = _tokens(text)
    _permute(toks, [i for i, t in enumerate(toks) if _tag(t) == "OTHER"], rng)
    return " ".join(toks)


def _trigrams(tokens: list[str]) -> list[list[str]]:
    return [tokens[i : i + 3] for i in range(0, len(tokens), 3)]


def shuffle_within_trigrams(text: str, rng: np.random.Generator) -> str:
    out = []
    for tri in _trigrams(_tokens(text)):
        out.append(" ".join(tri[j] for j in rng.permutation(len(tri))))
    return " ".join(out)


def shuffle_trigrams(text: str, rng: np.random.Generator) -> str:
    tris = _trigrams(_tokens(text))
    return " ".join(" ".join(tris[j]) for j in rng.permutation(len(tris)))


PERTURBATIONS: tuple[Callable[[str, np.random.Generator], str], ...] = (
    shuffle_nouns_and_adj,
    shuffle_allbut_nouns_and_adj,
    shuffle_within_trigrams,
    shuffle_trigrams,
)


def order_options(caption: str, seed: int, index: int, max_words: int = 30, tries: int = 10) -> list[str]:
    """The true caption (normalised) followed by its perturbations that differ from it."""
    true = pre_caption(caption, max_words)
    out = [true]
    for k, fn in enumerate(PERTURBATIONS):
        rng = np.random.default_rng([seed, index, k])
        for _ in range(tries):
            cand = pre_caption(fn(caption, rng), max_words)
            if cand != true:
                out.append(cand)
                break
    return out


# ---------------------------------------------------------------- readers


BBOX_KEYS = ("bbox_x", "bbox_y", "bbox_w", "bbox_h")


def read_bbox(rec: dict, path: Path, k: int, required: bool = True) -> tuple[float, float, float, float] | None:
    """A Visual Genome record's crop box (x, y, w, h), as ARO's files (and hard positives' copies) give it.

    With `required=False` a record with none of the four fields has no box (None); a record
    with only some of them is an error either way, never a silently uncropped image.
    """
    if not required and not any(key in rec for key in BBOX_KEYS):
        return None
    try:
        x, y, w, h = (float(rec[key]) for key in BBOX_KEYS)
        return x, y, w, h
    except KeyError as exc:
        raise DataError("missing required field", path=str(path), field=f"[{k}].{exc.args[0]}") from None
    except (TypeError, ValueError):
        raise DataError("bbox values must be numbers", path=str(path), field=f"[{k}].bbox") from None


def read_vg(path: Path, subset: str, image_root: Path) -> list[ScoreItem]:
    ann = read_json(path)
    if not isinstance(ann, list):
        raise DataError(f"expected a JSON list, got {type(ann).__name__}", path=str(path))
    items = []
    for k, rec in enumerate(ann):
        if not isinstance(rec, dict):
            raise DataError("expected an object", path=str(path), field=f"[{k}]")
        where = f"[{k}]."
        caps = [text_field(rec, "true_caption", path, where=where), text_field(rec, "false_caption", path, where=where)]
        img = text_field(rec, "image_path", path, where=where)
        if subset == "vg_relation":
            group = text_field(rec, "relation_name", path, where=where)
        else:
            attrs = rec.get("attributes")
            if not isinstance(attrs, list) or len(attrs) != 2:
                raise DataError("expected a list of 2 attributes", path=str(path), field=f"[{k}].attributes")
            group = f"{attrs[0]}_{attrs[1]}"
        ref = ImageRef(resolve_data_path(image_root, img, f"{path}[{k}]"), bbox=read_bbox(rec, path, k))
        items.append(ScoreItem(id=f"{subset}/{k}", images=[ref], captions=caps, subset=subset, meta={"group": group}))
    if not items:
        raise DataError("no records", path=str(path))
    return items


def read_order(path: Path, subset: str, image_root: Path, seed: int, max_words: int) -> tuple[list[ScoreItem], int]:
    """BLIP-style [{image, caption: [..]}], Karpathy {images: [...]} (test split) or
    pre-perturbed [{image, caption_options: [true, ...]}]; returns items and how many
    perturbations were left out because they could not differ from the caption."""
    ann = read_json(path)
    rows: list[tuple[str, list[str] | None, str | None, str]] = []  # image, options, caption, where
    if isinstance(ann, dict) and isinstance(ann.get("images"), list):
        for k, img in enumerate(ann["images"]):
            if not isinstance(img, dict) or img.get("split", "test") != "test":
                continue
            name = text_field(img, "filename", path, where=f"images[{k}].")
            rel = str(Path(img.get("filepath", "")) / name)
            for j, sent in enumerate(img.get("sentences") or []):
                raw = text_field(sent, "raw", path, where=f"images[{k}].sentences[{j}].") if isinstance(sent, dict) else None
                rows.append((rel, None, raw, f"images[{k}].sentences[{j}]"))
    elif isinstance(ann, list):
        for k, rec in enumerate(ann):
            if not isinstance(rec, dict):
                raise DataError("expected an object", path=str(path), field=f"[{k}]")
            img = text_field(rec, "image", path, where=f"[{k}].")
            if "caption_options" in rec:
                opts = rec["caption_options"]
                if not isinstance(opts, list) or len(opts) < 2:
                    raise DataError("expected a list of >= 2 captions (true first)", path=str(path), field=f"[{k}].caption_options")
                rows.append((img, [text_field({"c": o}, "c", path, where=f"[{k}].caption_options[{j}]") for j, o in enumerate(opts)], None, f"[{k}]"))
                continue
            caps = rec.get("caption")
            caps = [caps] if isinstance(caps, str) else caps
            if not isinstance(caps, list) or not caps:
                raise DataError("expected a caption list", path=str(path), field=f"[{k}].caption")
            for j, c in enumerate(caps):
                rows.append((img, None, text_field({"caption": c}, "caption", path, where=f"[{k}]."), f"[{k}].caption[{j}]"))
    else:
        raise DataError("expected a list of {image, caption: [...]} or Karpathy {images: [...]}", path=str(path))
    items, left_out = [], 0
    for idx, (img, opts, caption, where) in enumerate(rows):
        if opts is None:
            opts = order_options(caption or "", seed, idx, max_words)
            left_out += 1 + len(PERTURBATIONS) - len(opts)
        if len(opts) < 2:
            continue
        ref = ImageRef(resolve_data_path(image_root, img, f"{path}{where}"))
        items.append(ScoreItem(id=f"{subset}/{idx}", images=[ref], captions=opts, subset=subset, meta={"where": where}))
    if not items:
        raise DataError("no test captions", path=str(path))
    return items, left_out


@register_benchmark("aro")
class AroBenchmark(Benchmark):
    layout = (
        "a folder with any of: visual_genome_relation.json, visual_genome_attribution.json ([{image_path, bbox_x, bbox_y,\n"
        "  bbox_w, bbox_h, true_caption, false_caption, relation_name | attributes}], images under <data>/images or\n"
        "  vg_root=), coco_karpathy_test.json (images under coco_root=, default <data>), flickr30k_test.json (images\n"
        "  under flickr_root=, default <data>): [{image, caption: [..]}] or Karpathy {images: [...]}; options subset=,\n"
        "  seed= (Order perturbations, default 0), max_words= (30), min_pair_count= (VG-Attribution, 25)"
    )
    OPTIONS = ("subset", "vg_root", "coco_root", "flickr_root", "seed", "max_words", "min_pair_count")
    reads_subsets = True

    def load(self, data_dir: Path, **options: Any) -> BenchmarkData:
        check_options(self.name, options, self.OPTIONS)
        data_dir = Path(data_dir)
        if not data_dir.is_dir():
            raise DataError("expected a folder holding the ARO annotation files", path=str(data_dir))
        try:
            seed = int(options.get("seed", 0))
            max_words = int(options.get("max_words", 30))
            min_pairs = int(options.get("min_pair_count", 25))
        except (TypeError, ValueError):
            raise EqvlError("aro: seed, max_words and min_pair_count must be integers") from None
        found = {}
        for name, files in SUBSETS.items():
            path = next((data_dir / f for f in files if (data_dir / f).is_file()), None)
            if path is not None:
                found[name] = path
        if not found:
            raise layout_error(self.name, data_dir, self.layout)
        if options.get("subset"):
            wanted = chosen_subsets(self.name, options["subset"], list(SUBSETS))
            missing = [s for s in wanted if s not in found]
            if missing:
                raise DataError(f"no file for subset(s) {', '.join(missing)}; expected {', '.join(SUBSETS[missing[0]])}", path=str(data_dir))
            found = {s: found[s] for s in wanted}
        vg_root = Path(options["vg_root"]) if options.get("vg_root") else data_dir / "images"
        roots = {"coco_order": options.get("coco_root"), "flickr30k_order": options.get("flickr_root")}
        items: list[ScoreItem] = []
        left_out: dict[str, int] = {}
        for name, path in found.items():
            if name.startswith("vg_"):
                items.extend(read_vg(path, name, vg_root))
            else:
                got, left_out[name] = read_order(path, name, Path(str(roots[name])) if roots[name] else data_dir, seed, max_words)
                items.extend(got)
        meta = {"subsets": list(found), "seed": seed, "min_pair_count": min_pairs, "perturbations_left_out": left_out}
        return BenchmarkData(items=items, meta=meta)

    def evaluate(self, data: BenchmarkData, scores: list[np.ndarray]) -> dict[str, Any]:
        if len(scores) != len(data.items):
            raise EqvlError(f"aro: got {len(scores)} score arrays for {len(data.items)} items")
        correct = np.zeros(len(data.items), dtype=bool)
        for k, (item, s) in enumerate(zip(data.items, scores)):
            s = np.asarray(s, dtype=np.float64)
            if s.shape != (len(item.captions), 1):
                raise EqvlError(f"aro: item {k} has scores shaped {s.shape}, expected {(len(item.captions), 1)}")
            correct[k] = bool(metrics.ranking_correct(s[None])[0])
        out: dict[str, Any] = {"metrics": {}, "subsets": {}}
        subsets = np.array([it.subset for it in data.items], dtype=object)
        for name in data.meta.get("subsets", list(SUBSETS)):
            mask = subsets == name
            if not mask.any():
                continue
            c = correct[mask]
            entry: dict[str, Any] = {"n": int(mask.sum()), "micro_acc": float(c.mean())}
            if name == "vg_relation":
                groups = [it.meta["group"] for it, m in zip(data.items, mask) if m]
                entry["acc"], out["per_relation"] = metrics.macro_accuracy(groups, c, exclude=SYMMETRIC_RELATIONS)
            elif name == "vg_attribution":
                groups = [it.meta["group"] for it, m in zip(data.items, mask) if m]
                entry["acc"], out["per_attribute_pair"] = metrics.macro_accuracy(groups, c, min_count=int(data.meta.get("min_pair_count", 25)))
            else:
                entry["acc"] = entry["micro_acc"]  # Precision@1 over the true caption and its perturbations
            out["subsets"][name] = entry
            out["metrics"][name] = entry["acc"]
        return out
