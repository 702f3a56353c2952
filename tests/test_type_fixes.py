"""Bugs the type checker found (issue 19, item 4), each pinned by the behaviour it fixed."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from eqvl.api import Model
from eqvl.errors import EqvlError
from eqvl.synth.render import Rendered
from eqvl.synth.vocab import plural


def test_plural_of_a_synonym():
    # the loop unpacked (plural, synonyms) as if it were the synonym pairs: ValueError for every synonym
    assert plural("cube") == "cubes"
    assert plural("block") == "blocks" and plural("donut") == "donuts"
    with pytest.raises(KeyError):
        plural("nothing-like-it")


def test_mask_of_an_image_rendered_without_masks_is_refused():
    r = Rendered(image=np.zeros((4, 4, 3), np.uint8), labels=None, depth=None, amodal_area=[0])
    with pytest.raises(EqvlError, match="masks=False"):
        r.mask(0)  # was `None == 0`: False, a bool where a pixel mask was promised
    labelled = Rendered(image=r.image, labels=np.zeros((4, 4), np.int16), depth=None, amodal_area=[16])
    assert labelled.mask(0).shape == (4, 4) and labelled.mask(0).all()


class _PairOnly:
    """A pair scorer (an ITM head's shape): scores pairs, embeds nothing."""

    name, pretrained, score_kind = "itm-toy", "none", "probability"

    def preprocess(self, image):
        return torch.zeros(3, 2, 2)

    def identity(self) -> str:
        return "itm-toy"

    def score_pairs(self, pixels: torch.Tensor, texts: list[str]) -> torch.Tensor:
        return torch.zeros(len(texts))


def test_a_pair_scorer_model_says_it_has_no_embeddings():
    model = Model(_PairOnly())  # what eqvl.load_model("hf-itm:DIR", ...) returns
    for call in (lambda: model.embed_texts(["a dog"]), lambda: model.score([], ["a dog"])):
        with pytest.raises(EqvlError, match="eqvl.evaluate"):
            call()  # was an AttributeError on encode_texts
