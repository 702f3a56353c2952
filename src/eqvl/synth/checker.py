"""Read a caption back into a statement and judge it against a scene graph.

This is the independent check on the caption templates: tests parse every written
caption, hard positive and hard negative and evaluate it on the stored scene, so a
template bug cannot silently make a "hard negative" true.
"""

from __future__ import annotations

import re

from eqvl.synth import vocab
from eqvl.synth.logic import Count, Desc, Rel, Statement, evaluate
from eqvl.synth.scene import Scene

_REL_WORDS = {phrase: rel for rel, phrases in vocab.RELATION_PHRASES.items() for phrase in phrases}
_REL = "|".join(sorted((re.escape(p) for p in _REL_WORDS), key=len, reverse=True))
_VERB = "is located|is placed|is"
_PLACE = "|".join(re.escape(p) for p in vocab.PLACES)
_NOUNS = vocab.noun_words()
_SIZES = vocab.size_words()
_NUMBERS = vocab.number_words()

_COUNT_THERE = re.compile(rf"^There (is|are) (\S+) (.+?) ({_PLACE})\.$")
_COUNT_LEAD = re.compile(rf"^(\S+) (.+?) (is|are) ({_PLACE})\.$")
_CONJ = re.compile(rf"^There is an? (.+?) and an? (.+?), and the (\w+) (?:{_VERB}) ({_REL}) the (\w+)\.$")
_PLAIN = re.compile(rf"^The (.+?) (?:{_VERB}) ({_REL}) the (.+?)\.$")


class CaptionParseError(ValueError):
    """The caption is not in the engine's grammar."""


def parse_np(text: str) -> tuple[Desc, bool]:
    """"large red cube" -> (Desc, is_plural)."""
    words = text.split()
    if not words or words[-1] not in _NOUNS:
        raise CaptionParseError(f"no known noun in {text!r}")
    category, plural = _NOUNS[words[-1]]
    size = colour = None
    for word in words[:-1]:
        if word in _SIZES and size is None:
            size = _SIZES[word]
        elif word in vocab.COLOURS and colour is None:
            colour = word
        else:
            raise CaptionParseError(f"unexpected word {word!r} in {text!r}")
    return Desc(category, colour, size), plural


def parse(caption: str) -> Statement:
    """Caption text -> Count or Rel; raises CaptionParseError outside the grammar."""
    for pattern in (_COUNT_THERE, _COUNT_LEAD):
        m = pattern.match(caption)
        if m:
            if pattern is _COUNT_THERE:
                be, num, np_text = m.group(1), m.group(2), m.group(3)
            else:
                num, np_text, be = m.group(1).lower(), m.group(2), m.group(3)
            if num not in _NUMBERS:
                continue
            desc, plural = parse_np(np_text)
            n = _NUMBERS[num]
            if plural != (n != 1) or (be == "is") != (n == 1):
                raise CaptionParseError(f"number agreement broken in {caption!r}")
            return Count(desc, n)
    m = _CONJ.match(caption)
    if m:
        first, _ = parse_np(m.group(1))
        second, _ = parse_np(m.group(2))
        short_a, short_b = _NOUNS.get(m.group(3)), _NOUNS.get(m.group(5))
        if short_a is None or short_b is None:
            raise CaptionParseError(f"unknown noun in {caption!r}")
        by_cat = {first.category: first, second.category: second}
        if short_a[0] not in by_cat or short_b[0] not in by_cat or short_a[0] == short_b[0]:
            raise CaptionParseError(f"conjunct nouns do not match in {caption!r}")
        return Rel(by_cat[short_a[0]], _REL_WORDS[m.group(4)], by_cat[short_b[0]])
    m = _PLAIN.match(caption)
    if m:
        a, _ = parse_np(m.group(1))
        b, _ = parse_np(m.group(3))
        return Rel(a, _REL_WORDS[m.group(2)], b)
    raise CaptionParseError(f"caption not in the synth grammar: {caption!r}")


def check(caption: str, scene: Scene) -> bool | None:
    """Truth of a caption for a scene: True, False, or None (ambiguous)."""
    return evaluate(parse(caption), scene)
