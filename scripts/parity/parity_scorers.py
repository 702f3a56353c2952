"""Pair scorers side by side with the reference code that defines them, on the same tiny random weights.

  VQAScore  eqvl `vqascore:DIR` (Qwen2-VL family)  vs  t2v_metrics's own `Qwen2VLModel.forward`
            (t2v_metrics/models/vqascore_models/qwen2vl_model.py), its methods lifted as-is at run time
            from your checkout and run with `self.model` / `self.processor` = the same tiny directory.
  BLIP ITM  eqvl `hf-itm:DIR --option itm_score=aro`  vs  ARO's / What'sUp's
            `BLIPModelWrapper.get_retrieval_scores_batched` (model_zoo/blip_models.py), lifted as-is,
            its `self.model` an adapter exposing the tiny transformers BLIP under original BLIP's names
            (visual_encoder, text_encoder(mode='text'), vision_proj, text_proj, itm_head, tokenizer.enc_token_id).

Nothing of theirs is copied into eqvl: the methods are read from the checkout and executed.

    git clone https://github.com/linzhiqiu/t2v_metrics refs/t2v_metrics
    git clone https://github.com/amitakamath/whatsup_vlms refs/whatsup_vlms   # or ARO's repository
    pip install qwen-vl-utils        # t2v_metrics's Qwen path calls its process_vision_info
    PYTHONPATH=src .venv/bin/python scripts/parity/parity_scorers.py --t2v-metrics refs/t2v_metrics \\
        --blip-repo refs/whatsup_vlms
`decord` (video only, never used on images) is stood in for when missing.
"""

from __future__ import annotations

import argparse
import ast
import sys
import tempfile
import types
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))  # the repository root: tests.helpers.*

from tests.helpers import scorers as F  # noqa: E402
from eqvl.data.records import ImageRef  # noqa: E402
from eqvl.encode import EncodeConfig, score_pairs  # noqa: E402
from eqvl.models import load_encoder  # noqa: E402

CAPTIONS = ["a red cube left of a dog", "two cats", "the blue ball is on the green cube", "x"]


def lift_class(path: Path, class_name: str, methods: tuple[str, ...], namespace: dict[str, Any]) -> type:
    """The named methods of `class_name` in the file at `path`, executed unchanged into a bare class."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == class_name)
    body = [n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name in methods]
    missing = set(methods) - {n.name for n in body}
    if missing:
        raise SystemExit(f"{path}: {class_name} has no {', '.join(sorted(missing))}")
    module = ast.Module(body=[ast.ClassDef(name=class_name, bases=[], keywords=[], body=body, decorator_list=[],
                                           type_params=[])], type_ignores=[])
    exec(compile(ast.fix_missing_locations(module), str(path), "exec"), namespace)
    return namespace[class_name]


def eqvl_scores(spec: str, paths: list[Path], pairs: list[tuple[int, int]], **options: str) -> np.ndarray:
    scorer = load_encoder(spec, options=options)
    cfg = EncodeConfig(batch_size=4, progress=False)
    return score_pairs(scorer, [ImageRef(str(p)) for p in paths], CAPTIONS, pairs, cfg, lambda i, m: None).values


def t2v_qwen(t2v: Path, directory: Path, paths: list[Path], pairs: list[tuple[int, int]]) -> np.ndarray:
    """t2v_metrics's Qwen2VLModel.forward / load_images / _compute_token_prob on the tiny directory."""
    import transformers

    sys.modules.setdefault("decord", types.SimpleNamespace(VideoReader=None, cpu=None))
    from qwen_vl_utils import process_vision_info  # t2v_metrics's own dependency

    from PIL import Image

    namespace = {"torch": torch, "np": np, "Image": Image, "List": list, "Union": Any, "Tuple": tuple, "Dict": dict,
                 "process_vision_info": process_vision_info}
    source = t2v / "t2v_metrics" / "models" / "vqascore_models" / "qwen2vl_model.py"
    cls = lift_class(source, "Qwen2VLModel", ("load_images", "_compute_token_prob", "forward"), namespace)
    wrapper = cls()
    wrapper.model = transformers.Qwen2VLForConditionalGeneration.from_pretrained(directory).eval()
    wrapper.processor = transformers.AutoProcessor.from_pretrained(directory)
    wrapper.device, wrapper.model_info = torch.device("cpu"), {}
    out = []
    for i, c in pairs:  # their forward takes file paths; one call per pair is how it runs anyway
        try:
            out.append(float(wrapper.forward([str(paths[i])], [CAPTIONS[c]])[0]))
        except ValueError as exc:  # their guard when the greedy token is special (EOS / PAD)
            print(f"  t2v_metrics refused pair ({i}, {c}): {exc}")
            out.append(float("nan"))
    return np.array(out)


class _TextEncoder(torch.nn.Module):
    """transformers' BlipTextModel under original BLIP's `text_encoder(ids, attention_mask, mode=...)` call."""

    def __init__(self, hf: Any):
        super().__init__()
        self.hf = hf

    def forward(self, input_ids, attention_mask=None, encoder_hidden_states=None, encoder_attention_mask=None,
                return_dict=True, mode="multimodal"):
        if mode == "text":
            encoder_hidden_states = encoder_attention_mask = None
        return self.hf(input_ids=input_ids, attention_mask=attention_mask, encoder_hidden_states=encoder_hidden_states,
                       encoder_attention_mask=encoder_attention_mask)


def aro_blip(repo: Path, directory: Path, paths: list[Path], n_images: int) -> np.ndarray:
    """ARO / What'sUp's BLIPModelWrapper.get_retrieval_scores_batched over one test case: every image x caption."""
    import torch.nn.functional as Fn
    import transformers
    from PIL import Image
    from tqdm import tqdm

    hf = transformers.BlipForImageTextRetrieval.from_pretrained(directory).eval()
    tok = transformers.AutoTokenizer.from_pretrained(directory)
    tok.enc_token_id = tok.convert_tokens_to_ids("[ENC]")
    proc = transformers.AutoImageProcessor.from_pretrained(directory)
    model = types.SimpleNamespace(visual_encoder=lambda x: hf.vision_model(pixel_values=x).last_hidden_state,
                                  text_encoder=_TextEncoder(hf.text_encoder), vision_proj=hf.vision_proj,
                                  text_proj=hf.text_proj, itm_head=hf.itm_head, tokenizer=tok)
    namespace = {"torch": torch, "np": np, "F": Fn, "tqdm": tqdm}
    cls = lift_class(repo / "model_zoo" / "blip_models.py", "BLIPModelWrapper",
                     ("run_scores_batched", "get_retrieval_scores_batched"), namespace)
    wrapper = cls()
    wrapper.model, wrapper.device = model, "cpu"
    pixels = [proc(images=Image.open(p).convert("RGB"), return_tensors="pt")["pixel_values"] for p in paths[:n_images]]
    batch = {"image_options": pixels, "caption_options": [[c] for c in CAPTIONS]}
    t2i, _ = wrapper.get_retrieval_scores_batched([batch])
    return t2i[0]  # [n_images, n_captions]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--t2v-metrics", type=Path, default=None, help="checkout of linzhiqiu/t2v_metrics")
    ap.add_argument("--blip-repo", type=Path, default=None, help="checkout of whatsup_vlms or ARO (model_zoo/blip_models.py)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        paths = F.images(root / "im", 3, size=(40, 30))
        pairs = [(i, c) for i in range(3) for c in range(len(CAPTIONS))]
        print("| row | pairs | max abs diff | eqvl (first 3) | reference (first 3) |\n|---|--:|--:|---|---|")
        if args.t2v_metrics:
            directory = F.qwen2vl_dir(root)
            ours = eqvl_scores(f"vqascore:{directory}", paths, pairs)
            theirs = t2v_qwen(args.t2v_metrics, directory, paths, pairs)
            _row("VQAScore qwen2-vl vs t2v_metrics Qwen2VLModel.forward", ours, theirs)
        if args.blip_repo:
            directory = F.blip_dir(root)
            ours = eqvl_scores(f"hf-itm:{directory}", paths, pairs, itm_score="aro").reshape(3, len(CAPTIONS))
            theirs = aro_blip(args.blip_repo, directory, paths, 3)
            _row("BLIP itm_score=aro vs blip_models.get_retrieval_scores_batched", ours.ravel(), theirs.ravel())


def _row(label: str, ours: np.ndarray, theirs: np.ndarray) -> None:
    ok = ~np.isnan(theirs)
    diff = np.abs(ours[ok] - theirs[ok]).max() if ok.any() else float("nan")
    fmt = lambda a: ", ".join(f"{x:.6f}" for x in a[:3])  # noqa: E731
    print(f"| {label} | {int(ok.sum())}/{len(ours)} | {diff:.1e} | {fmt(ours)} | {fmt(theirs)} |")


if __name__ == "__main__":
    main()
