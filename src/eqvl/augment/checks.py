"""The validity check of a rewrite: does it break subject-verb agreement that its caption kept?

A rewrite that moves, swaps or recounts noun phrases can leave a verb agreeing with the wrong
subject ("A man in three red shirts are riding ..."). The check re-parses the rewrite with the
augmenter's own parser, finds each finite verb's subject (the first phrase of a chain joined by
prepositions: "a man in three red shirts" -> "a man") and compares their grammatical number.
Only problems the caption itself did not have count: captions often say "a group of people are".
It checks grammar, not meaning ("two giraffes ... in a tree" passes); its measured precision on
the quality captions is in docs/guide/augment.md (bench/augment_quality.py).
"""

from __future__ import annotations

import re
from functools import lru_cache

from eqvl.augment import lexicon as L
from eqvl.augment.nlp import Parse, parse

_SINGULAR_AUX = frozenset({"is", "was", "has"})
_PLURAL_AUX = frozenset({"are", "were", "have"})


def _subject(p: Parse, phrase: int) -> int:
    """Walk left over prepositional links: the phrase a verb after `phrase` agrees with."""
    incoming = {link.right: link for link in p.links}
    seen = {phrase}
    while phrase in incoming and incoming[phrase].kind == "rel" and incoming[phrase].left not in seen:
        phrase = incoming[phrase].left
        seen.add(phrase)
    return phrase


def _verb_number(p: Parse, link) -> bool | None:
    """True (plural), False (singular) or None (no finite verb with a number) for a link's verb."""
    if link.aux >= 0:
        low = p.tokens[link.aux].low
        return True if low in _PLURAL_AUX else False if low in _SINGULAR_AUX else None
    if link.verb >= 0:
        low = p.tokens[link.verb].low
        entry = L.VERB_FORMS.get(low)
        if entry and low != entry[1] and low == entry[0] and not low.endswith(("ing", "ed")):
            return True
        if entry and low == entry[1] and low != entry[0]:
            return False
    return None


def _may_have_finite_verb(text: str) -> bool:
    """A cheap word test before parsing: no auxiliary and no finite verb form means nothing to check."""
    for word in re.findall(r"[a-z]+", text.lower()):
        if word in _SINGULAR_AUX or word in _PLURAL_AUX:
            return True
        entry = L.VERB_FORMS.get(word)
        if entry and word in (entry[0], entry[1]) and not word.endswith(("ing", "ed")):
            return True
    return False


@lru_cache(maxsize=4096)
def agreement_problems(text: str) -> tuple[str, ...]:
    """'subject <-> verb' for each finite verb whose number differs from its subject's."""
    if not _may_have_finite_verb(text):
        return ()
    p = parse(text)
    found = []
    for link in p.links:
        if link.kind == "conj":
            continue
        number = _verb_number(p, link)
        if number is None:
            continue
        subject = p.phrases[_subject(p, link.left)]
        if subject.plural != number:
            word = p.tokens[link.aux if link.aux >= 0 else link.verb].text
            found.append(f"{' '.join(t.text for t in p.tokens[subject.start:subject.end])} <-> {word}")
    return tuple(found)


def breaks_agreement(original: str, rewrite: str) -> bool:
    """The rewrite has more agreement problems than its caption (so the rewrite made them)."""
    return len(agreement_problems(rewrite)) > len(agreement_problems(original))
