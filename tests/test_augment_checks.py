"""Augment's `valid` flag is a real check (issue 13): subject-verb agreement the rewrite broke."""

from pathlib import Path

from eqvl.augment import NEGATIVE_TYPES, POSITIVE_TYPES, augment_caption
from eqvl.augment.checks import agreement_problems, breaks_agreement


def test_agreement_problems_find_the_subject_across_prepositions():
    assert agreement_problems("A man in three red shirts are riding a horse.") == ("a man <-> are",)
    assert agreement_problems("Two dogs sits on a couch.") == ("two dogs <-> sits",)
    assert agreement_problems("A man in a red shirt is riding a horse.") == ()
    assert agreement_problems("Two dogs sit on a couch.") == ()
    assert agreement_problems("Two giraffes standing near a fence.") == ()  # no finite verb: nothing to check


def test_only_problems_the_caption_did_not_have_count():
    caption = "A group of people are standing on a beach."  # common in COCO, kept as written
    assert agreement_problems(caption) and not breaks_agreement(caption, "A group of people are standing on a pier.")
    assert breaks_agreement("A man in a red shirt is riding a horse.", "A man in three red shirts are riding a horse.")


def test_the_flag_marks_the_broken_rewrites_and_only_those():
    res = augment_caption("A man in a red shirt is riding a horse.", negatives=NEGATIVE_TYPES,
                          positives=POSITIVE_TYPES, seed=0, per_type=3)
    flags = {rw.text: rw.valid for rw in res.negatives + res.positives}
    assert flags["A man in three red shirts are riding a horse."] is False
    assert flags["A man in a red shirt is riding three horses."] is True
    for text, valid in flags.items():
        assert valid == (not agreement_problems(text)), text


def test_the_flag_is_not_constant_on_finite_verb_captions():
    path = Path(__file__).parent / "data" / "captions_finite_verbs.txt"
    caps = [ln for ln in path.read_text().splitlines() if ln.strip() and not ln.startswith("#")]
    flags = [rw.valid for cap in caps for rw in (lambda r: r.negatives + r.positives)(
        augment_caption(cap, negatives=NEGATIVE_TYPES, positives=POSITIVE_TYPES, seed=0, per_type=1))]
    assert 0 < flags.count(False) < len(flags) // 4
