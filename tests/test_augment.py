"""eqvl.augment: construction rules on a fixed list of captions (tests/data/captions_test.txt)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from eqvl.augment import AugmentResult, Rewrite, augment_caption, expand_types
from eqvl.augment import lexicon as L
from eqvl.augment.base import degenerate_reason, normalize
from eqvl.augment.nlp import parse, pluralize, singularize
from eqvl.augment.wordnet import get_wordnet
from eqvl.errors import EqvlError

DATA = Path(__file__).parent / "data" / "captions_test.txt"
CAPTIONS = [ln.strip() for ln in DATA.read_text().splitlines() if ln.strip() and not ln.startswith("#")]
ALL_NEG = ("swap", "attribute_swap", "replace", "negate", "count")
ALL_POS = ("replace", "swap", "inverse", "passive")


@pytest.fixture(scope="module")
def results() -> dict[str, AugmentResult]:
    return {c: augment_caption(c, negatives=ALL_NEG, positives=ALL_POS, seed=3, per_type=2) for c in CAPTIONS}


def words(text: str) -> list[str]:
    return normalize(text).split()


def bag(text: str) -> list[str]:
    """Sorted words with a/an merged (an article may change with its neighbour)."""
    return sorted("a" if w == "an" else w for w in words(text))


def test_fixed_list_is_large_and_varied():
    assert len(CAPTIONS) >= 50
    assert len(set(CAPTIONS)) == len(CAPTIONS)


def test_every_type_occurs_on_the_fixed_list(results):
    neg = {r.type for res in results.values() for r in res.negatives}
    pos = {r.type for res in results.values() for r in res.positives}
    assert neg == set(ALL_NEG)
    assert pos == set(ALL_POS)


def test_no_output_identical_or_degenerate(results):
    for cap, res in results.items():
        for rw in res.negatives + res.positives:
            assert isinstance(rw, Rewrite)
            assert rw.text.strip(), cap
            assert normalize(rw.text) != normalize(cap), (cap, rw)
            assert degenerate_reason(rw.text, cap) is None, (cap, rw)
            assert "<mask>" not in rw.text.lower() and "  " not in rw.text
        texts = [r.text for r in res.negatives + res.positives]
        assert len(texts) == len(set(texts)), cap


def test_negative_swap_exchanges_exactly_two_phrases(results):
    n = 0
    for cap, res in results.items():
        for rw in res.negatives:
            if rw.type != "swap":
                continue
            a, b = rw.detail.split(" <-> ")
            orig, new = " ".join(words(cap)), " ".join(words(rw.text))
            # putting the two phrases back gives the original (aux/verb agreement may differ)
            back = new.replace(normalize(a), "\0").replace(normalize(b), normalize(a)).replace("\0", normalize(b))
            assert _same_up_to_agreement(back, orig), (cap, rw)
            assert sorted(words(rw.text)) != [] and words(rw.text) != words(cap)
            n += 1
    assert n >= 20


def _same_up_to_agreement(x: str, y: str) -> bool:
    norm = {"are": "is", "were": "was", "have": "has"}
    xs = [norm.get(w, w) for w in x.split()]
    ys = [norm.get(w, w) for w in y.split()]
    return len(xs) == len(ys) and sum(a != b for a, b in zip(xs, ys)) <= 1


def test_attribute_swap_keeps_the_bag_of_words(results):
    n = 0
    for cap, res in results.items():
        for rw in res.negatives:
            if rw.type == "attribute_swap":
                assert bag(rw.text) == bag(cap), (cap, rw)
                assert words(rw.text) != words(cap)
                n += 1
    assert n >= 5


def test_replace_negative_changes_one_slot_to_the_same_kind(results):
    kinds = set()
    for cap, res in results.items():
        for rw in res.negatives:
            if rw.type != "replace":
                continue
            kind, change = rw.detail.split(": ", 1)
            old, new = re.match(r"(.+) -> (.+) \(\w+\)$", change).groups()
            kinds.add(kind)
            assert old != new and new not in L.SYNONYMS.get(old, ()) and old not in L.SYNONYMS.get(new, ()), rw
            if kind == "attribute":
                assert L.ATTRIBUTE_CLASS[old] == L.ATTRIBUTE_CLASS[new], rw
            if kind == "relation":
                assert new in L.RELATION_CONTRAST[old], rw
            if kind == "object":
                base_old, base_new = singularize(old), singularize(new)
                grp = L.OBJECT_GROUP.get(base_old)
                if grp is not None and base_old not in L.PERSON_CONTRAST:
                    assert L.OBJECT_GROUP.get(base_new) == grp, rw
            assert normalize(rw.text).replace(normalize(new), normalize(old), 1) == normalize(cap) or \
                normalize(rw.text) != normalize(cap)
    assert kinds >= {"attribute", "object", "relation", "verb"}


def test_negate_inserts_or_removes_a_negation(results):
    neg_words = {"not", "no", "without"}
    n = 0
    for cap, res in results.items():
        for rw in res.negatives:
            if rw.type != "negate":
                continue
            before = sum(w in neg_words for w in words(cap))
            after = sum(w in neg_words for w in words(rw.text))
            assert after != before, (cap, rw)
            n += 1
    assert n >= 40


def test_count_changes_to_a_different_number(results):
    numbers = set(L.NUMBER_WORDS) | {str(i) for i in range(13)}
    n = 0
    for cap, res in results.items():
        for rw in res.negatives:
            if rw.type != "count":
                continue
            old, new = rw.detail.split(" -> ")
            assert new in numbers and new != old, rw
            assert new in words(rw.text)
            n += 1
    assert n >= 30


def test_positive_synonyms_come_from_the_curated_list_or_one_wordnet_synset(results):
    wn = get_wordnet()
    n = 0
    for cap, res in results.items():
        for rw in res.positives:
            if rw.type != "replace":
                continue
            old, new, source = re.match(r"(.+) -> (.+) \((\w+)\)$", rw.detail).groups()
            if source == "number":  # the same number written as a digit or a word
                values = {str(v): v for v in L.NUMBER_NAMES} | L.NUMBER_WORDS
                ok = values[old] == values[new] and old != new
            elif source == "context":  # "on a table" -> "on top of a table": only for listed kinds of object
                subs, groups, extra = L.CONTEXT_SYNONYMS[old]
                p = parse(cap)
                objs = [singularize(p.tokens[ph.head].low) for ph in p.phrases
                        if ph.start >= 1 and p.tokens[ph.start - 1].low == old]
                ok = new in subs and any(L.OBJECT_GROUP.get(o) in groups or o in extra for o in objs)
            elif source == "curated":
                ok = new in L.SYNONYMS.get(old, ()) or singularize(new) in L.SYNONYMS.get(singularize(old), ())
            else:
                assert wn is not None
                ok = any(wn.share_synset(wn.morphy(old, p) or old, wn.morphy(new, p) or new, p) for p in "av")
            assert ok, rw
            n += 1
    assert n >= 25


def test_inverse_relations_swap_arguments(results):
    n = 0
    for cap, res in results.items():
        for rw in res.positives:
            if rw.type != "inverse":
                continue
            rel, inv = re.match(r"(.+) -> (.+), arguments swapped", rw.detail).groups()
            assert L.INVERSES.get(rel, rel) == inv
            assert rel in L.SYMMETRIC or rel in L.INVERSES
            p = parse(cap)
            link = next(ln for ln in p.links if ln.rel == rel)
            first = " ".join(w.lower() for w in p.words()[p.phrases[link.left].start:p.phrases[link.left].end])
            second = " ".join(w.lower() for w in p.words()[p.phrases[link.right].start:p.phrases[link.right].end])
            new = " ".join(words(rw.text))
            # "A rel B" became "B inv A"
            assert f"{normalize(second)} " in new and new.index(normalize(second)) < new.rindex(normalize(first))
            assert f" {inv} " in f" {new} "
            n += 1
    assert n >= 6


def test_inverse_examples():
    res = augment_caption("a cup to the left of a plate", negatives=(), positives=("inverse",))
    assert [r.text for r in res.positives] == ["a plate to the right of a cup"]
    res = augment_caption("a lamp above a table", negatives=(), positives=("inverse",))
    assert [r.text for r in res.positives] == ["a table below a lamp"]
    res = augment_caption("a blue car in front of a white house", negatives=(), positives=("inverse",))
    assert [r.text for r in res.positives] == ["a white house behind a blue car"]


def test_positive_swap_exchanges_conjuncts(results):
    n = 0
    for cap, res in results.items():
        for rw in res.positives:
            if rw.type != "swap":
                continue
            a, b = rw.detail.split(" <-> ")
            assert bag(rw.text) == bag(cap), rw
            new = normalize(rw.text)
            assert f"{normalize(b)} and {normalize(a)}" in new, rw
            n += 1
    assert n >= 5


def test_passive_keeps_agent_and_patient(results):
    n = 0
    for cap, res in results.items():
        for rw in res.positives:
            if rw.type != "passive":
                continue
            assert " by " in rw.text and re.search(r"\b(being|is|are)\b", rw.text), rw
            n += 1
    assert n >= 8
    res = augment_caption("a brown dog chasing a white cat on the grass", negatives=(), positives=("passive",))
    assert [r.text for r in res.positives] == ["a white cat being chased by a brown dog on the grass"]


def test_no_eligible_word_means_no_rewrite_of_that_type():
    res = augment_caption("an empty street at night", negatives=("swap", "count"), positives=("swap", "passive"))
    assert [r.type for r in res.negatives if r.type == "swap"] == []
    assert res.positives == []
    res = augment_caption("hello", negatives=ALL_NEG, positives=ALL_POS)
    assert all(degenerate_reason(r.text, "hello") is None for r in res.negatives + res.positives)
    assert augment_caption("   ").negatives == []


def test_determinism_and_seed_dependence():
    a = [augment_caption(c, negatives=ALL_NEG, positives=ALL_POS, seed=5) for c in CAPTIONS]
    b = [augment_caption(c, negatives=ALL_NEG, positives=ALL_POS, seed=5) for c in CAPTIONS]
    assert a == b
    c = [augment_caption(x, negatives=ALL_NEG, positives=ALL_POS, seed=6) for x in CAPTIONS]
    assert a != c


def test_capitalisation_and_articles_are_kept_right():
    res = augment_caption("A man riding a horse on a beach.", negatives=("count",), positives=())
    assert res.negatives[0].text[0].isupper() and res.negatives[0].text.endswith(".")
    res = augment_caption("an orange cat on a table", negatives=("replace",), positives=(), per_type=5)
    for rw in res.negatives:
        assert not re.search(r"\ba [aeiou]", rw.text) and not re.search(r"\ban [^aeiou\s]", rw.text), rw


def test_contract_defaults_and_type_names():
    res = augment_caption("a brown dog chasing a white cat on the grass")
    assert res.negatives and res.positives
    assert {r.type for r in res.negatives} <= {"swap", "attribute_swap", "replace", "negate", "count"}
    assert expand_types(["swap"], "negatives") == ("swap", "attribute_swap")
    assert expand_types(["swap"], "positives") == ("swap", "inverse", "passive")
    with pytest.raises(EqvlError, match="unknown negatives type"):
        expand_types(["flip"], "negatives")


def test_morphology_helpers():
    assert pluralize("man") == "men" and pluralize("bus") == "buses" and pluralize("berry") == "berries"
    assert pluralize("giraffe") == "giraffes" and pluralize("knife") == "knives" and pluralize("tomato") == "tomatoes"
    for noun in L.OBJECT_GROUP:
        if " " not in noun and noun not in L.PLURAL_ONLY and not noun.endswith("s") and pluralize(noun) not in L.PLURAL_ONLY:
            assert singularize(pluralize(noun)) == noun, noun
    assert singularize("dogs") == "dog" and singularize("boxes") == "box" and singularize("glass") == "glass"


def test_odd_inputs_never_crash_or_degenerate():
    import random

    rnd = random.Random(0)
    vocab = "a an the dog cat on under and two red big sitting is not of with next to left man's . , !".split()
    odd = ["...", "a", "the the the", "and and and", "Café au lait in a cup", "a man's red hat on a table",
           "2 dogs on 1 couch", "A DOG ON A COUCH", "a dog on a couch\nand a cat", "one dog", "no dogs"]
    odd += [" ".join(rnd.choice(vocab) for _ in range(rnd.randint(1, 10))) for _ in range(300)]
    for text in odd:
        res = augment_caption(text, negatives=ALL_NEG, positives=ALL_POS, per_type=2)
        for rw in res.negatives + res.positives:
            assert degenerate_reason(rw.text, text) is None, (text, rw)
    assert augment_caption("...", negatives=ALL_NEG, positives=ALL_POS).negatives == []
    res = augment_caption("Café au lait in a cup", negatives=("replace",), positives=())
    assert all(r.text.startswith("Café au lait") for r in res.negatives) and res.negatives
    res = augment_caption("a man's red hat on a table", negatives=("count", "swap"), positives=())
    assert "a man's red hat" in [r for r in res.negatives if r.type == "swap"][0].text
    assert all("man's" in r.text and "men's" not in r.text for r in res.negatives)


def test_quality_set_obeys_the_same_invariants():
    path = Path(__file__).parent / "data" / "captions_quality.txt"
    caps = [ln.strip() for ln in path.read_text().splitlines() if ln.strip() and not ln.startswith("#")]
    assert len(caps) == 200 and len(set(caps)) == 200
    for cap in caps:
        res = augment_caption(cap, negatives=ALL_NEG, positives=ALL_POS, seed=1)
        for rw in res.negatives + res.positives:
            assert degenerate_reason(rw.text, cap) is None, (cap, rw)
            if rw.type in ("attribute_swap",) or (rw.type == "swap" and rw in res.positives):
                assert bag(rw.text) == bag(cap), (cap, rw)
