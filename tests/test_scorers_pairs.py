"""Pair-cost planning: a pair scorer is asked only for the pairs a metric needs, and retrieval with
a pair scorer is coarse-to-fine (equal to brute force when the coarse k covers every candidate)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

transformers = pytest.importorskip("transformers")

from tests.helpers import scorers as F  # noqa: E402
from eqvl.data.records import ImageRef, ScoreItem  # noqa: E402
from eqvl.encode import EncodeConfig  # noqa: E402
from eqvl.errors import EqvlError  # noqa: E402
from eqvl.evaluation import coarse as coarse_mod  # noqa: E402
from eqvl.evaluation import evaluate, score_items  # noqa: E402
from eqvl.evaluation.coarse import Coarse  # noqa: E402
from eqvl.models import load_encoder  # noqa: E402


class CountingScorer:
    """A grouped pair scorer that records every (image pixel mean, caption) it is asked for."""

    name, pretrained, score_kind = "counting", "none", "probability"

    def __init__(self):
        self.asked: list[tuple[float, str]] = []
        self.preprocess = lambda im: torch.from_numpy(np.asarray(im, dtype=np.float32)).permute(2, 0, 1) / 255

    def identity(self) -> str:
        return "counting"

    def score_pairs(self, pixels, texts):
        return self.score_grouped(list(pixels), list(range(len(texts))), texts)

    def score_grouped(self, images, image_of, texts):
        self.asked += [(round(float(images[i].mean()), 4), t) for i, t in zip(image_of, texts)]
        return torch.tensor([float(images[i].mean()) * len(t) for i, t in zip(image_of, texts)])


def test_engine_asks_only_the_pairs_each_metric_needs(tmp_path):
    paths = F.images(tmp_path, 8)
    ref = [ImageRef(str(p)) for p in paths]
    items = [
        ScoreItem(id="wino", images=[ref[0], ref[1]], captions=["a dog on a cat", "a cat on a dog"]),  # 2x2: 4
        ScoreItem(id="sugar", images=[ref[2]], captions=["a red cube", "a blue cube"]),  # SugarCrepe: 2
        ScoreItem(id="valse", images=[ref[3]], captions=["two dogs", "one dog"]),  # VALSE foil pair: 2
        ScoreItem(id="vlc", images=[ref[4]], captions=["the ball is red", "the ball is green"]),  # VL-CheckList: 2
        ScoreItem(id="aro", images=[ref[5]], captions=["x on y", "y on x", "x under y", "y under x"]),  # 4 options
    ]
    scorer = CountingScorer()
    out = score_items(scorer, items, EncodeConfig(batch_size=3, progress=False))
    assert len(scorer.asked) == 4 + 2 + 2 + 2 + 4 == out.stats["pairs"]["encoded"]
    assert len(set(scorer.asked)) == len(scorer.asked)  # nothing twice
    assert [s.shape for s in out.scores] == [(2, 2), (2, 1), (2, 1), (2, 1), (4, 1)]
    assert out.scores[1][0, 0] == pytest.approx(float(scorer.preprocess(Image.open(paths[2]).convert("RGB")).mean()) * 10)


@pytest.fixture(scope="module")
def blip(tmp_path_factory):
    return F.blip_dir(tmp_path_factory.mktemp("blip"))


def _retrieval(root, n_images=4):
    paths = F.images(root, n_images)
    words = ["red cube", "blue ball", "green dog", "two cats", "a photo", "one ball"]
    lines = ["filepath,title"]
    for i, p in enumerate(paths):
        lines += [f"{p.name},a {words[i % 6]} {i}", f"{p.name},the {words[(i + 2) % 6]} left of {i}"]
    (root / "captions.csv").write_text("\n".join(lines) + "\n")
    return root / "captions.csv", paths


def _brute(scorer, paths, captions):
    imgs = [scorer.preprocess(Image.open(p).convert("RGB")) for p in paths]
    pairs = [(i, c) for c in range(len(captions)) for i in range(len(paths))]
    s = scorer.score_grouped(imgs, [i for i, _ in pairs], [captions[c] for _, c in pairs]).numpy()
    return s.reshape(len(captions), len(paths))


def test_coarse_to_fine_equals_brute_force_when_k_covers_all(blip, tmp_path):
    csv, paths = _retrieval(tmp_path)
    scorer = load_encoder(f"hf-itm:{blip}")
    coarse = Coarse(load_encoder(f"hf:{blip}"), k=8)
    full = evaluate(scorer, "retrieval", csv, progress=False, batch_size=5, coarse=coarse)
    brute = evaluate(scorer, "retrieval", csv, progress=False, batch_size=3)
    assert full.results["metrics"] == brute.results["metrics"]
    c2f = full.results["coarse_to_fine"]
    assert c2f["coarse_k"] == 8 and c2f["pairs_scored"] == 32 == c2f["pairs_full_matrix"]
    assert c2f["coarse_model"] == f"hf:{blip}" and brute.results["coarse_to_fine"]["coarse_model"] is None
    captions = [line.split(",", 1)[1] for line in csv.read_text().splitlines()[1:]]
    s = _brute(scorer, paths, captions)  # [captions, images]
    owner = np.repeat(np.arange(4), 2)
    assert full.results["metrics"]["image_retrieval_recall@1"] == pytest.approx(np.mean(s.argmax(1) == owner))
    i2t = np.mean([owner[s[:, i].argmax()] == i for i in range(4)])
    assert full.results["metrics"]["text_retrieval_recall@1"] == pytest.approx(i2t)


def test_coarse_k_bounds_the_pairs_scored(blip, tmp_path):
    csv, _ = _retrieval(tmp_path, n_images=6)
    scorer = load_encoder(f"hf-itm:{blip}")
    res = evaluate(scorer, "retrieval", csv, progress=False, coarse=Coarse(load_encoder(f"hf:{blip}"), k=2))
    c2f = res.results["coarse_to_fine"]
    assert c2f["pairs_scored"] <= 2 * (6 + 12) and c2f["pairs_scored"] < c2f["pairs_full_matrix"] == 72
    assert res.results["encoding"]["pairs"]["unique"] == c2f["pairs_scored"]
    assert "coarse" in res.results["encoding"]


def test_pair_scorer_retrieval_without_coarse_is_refused_over_the_limit(blip, tmp_path, monkeypatch):
    csv, _ = _retrieval(tmp_path)
    monkeypatch.setattr(coarse_mod, "MAX_BRUTE_PAIRS", 10)
    with pytest.raises(EqvlError, match=r"4 images x 8 captions = 32 forward passes.*`coarse_model`"):
        evaluate(load_encoder(f"hf-itm:{blip}"), "retrieval", csv, progress=False)
    data = F.twins(tmp_path / "tw", n=1)
    with pytest.raises(EqvlError, match="`coarse_model` is for retrieval"):
        evaluate(load_encoder(f"hf-itm:{blip}"), "twins", data, progress=False,
                 coarse=Coarse(load_encoder(f"hf:{blip}"), k=2))
