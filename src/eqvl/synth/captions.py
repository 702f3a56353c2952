"""Caption templates (after EqBen's EQ-Kubric, figure 14) and exact rewrites.

A caption is a statement (logic.py) realised in a `Style` (template, verb, relation
phrase, number form, synonyms). The two captions of a twin share one style, so they
differ only in the changed phrase. Hard negatives and positives are built from the
statement, not from the text, so they are exact: an inverted relation is false, an
inverse with swapped arguments is true, whatever the words.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from eqvl.synth import vocab
from eqvl.synth.logic import Count, Desc, Rel, Statement


@dataclass(frozen=True)
class Style:
    """How a statement is worded; shared by both captions of a twin."""

    form: str = "plain"  # Rel: plain | conj ; Count: there | lead
    verb: str = "is"
    phrase: int = 0  # index into vocab.RELATION_PHRASES[rel] (wraps)
    place: str = "on the platform"
    digits: bool = False
    synonyms: bool = False
    swap_order: bool = False  # conj form: mention the second object first


def _replace(obj, **changes):
    """dataclasses.replace for the frozen, plain dataclasses here (Style, Desc), several times faster."""
    new = object.__new__(type(obj))
    new.__dict__.update(obj.__dict__, **changes)
    return new


def _choice(rng: np.random.Generator, options):
    """rng.choice(options) (the same draw from the same stream) without its array overhead."""
    return options[int(rng.integers(len(options)))]


def sample_style(rng: np.random.Generator, stmt: Statement) -> Style:
    """A random wording for a statement (EqBen's verbs, phrases and places)."""
    forms = ("there", "lead") if isinstance(stmt, Count) else ("plain", "plain", "conj")
    return Style(
        form=str(_choice(rng, forms)),
        verb=str(_choice(rng, vocab.VERBS)),
        phrase=int(rng.integers(0, 4)),
        place=str(_choice(rng, vocab.PLACES)),
        digits=bool(rng.random() < 0.25),
        synonyms=bool(rng.random() < 0.25),
        swap_order=bool(rng.random() < 0.5),
    )


def _noun(category: str, plural: bool, synonyms: bool) -> str:
    syns = vocab.CATEGORIES[category][1]
    if synonyms and syns:
        return syns[0][1] if plural else syns[0][0]
    return vocab.CATEGORIES[category][0] if plural else category


def _np(desc: Desc, style: Style, plural: bool = False) -> str:
    words = []
    if desc.size:
        syn = vocab.SIZE_SYNONYMS.get(desc.size, ())
        words.append(syn[0] if style.synonyms and syn else desc.size)
    if desc.colour:
        words.append(desc.colour)
    words.append(_noun(desc.category, plural, style.synonyms))
    return " ".join(words)


def _article(phrase: str) -> str:
    return ("an " if phrase[0] in "aeiou" else "a ") + phrase


def _phrase(rel: str, style: Style) -> str:
    options = vocab.RELATION_PHRASES[rel]
    return options[style.phrase % len(options)]


def realize(stmt: Statement, style: Style) -> str:
    """The caption text of a statement in a style."""
    if isinstance(stmt, Count):
        n = stmt.n
        num = str(n) if style.digits else vocab.NUMBER_WORDS[n]
        noun = _np(stmt.desc, style, plural=n != 1)
        be = "is" if n == 1 else "are"
        if style.form == "lead":
            text = f"{num} {noun} {be} {style.place}."
            return text[0].upper() + text[1:]
        return f"There {be} {num} {noun} {style.place}."
    rel = _phrase(stmt.rel, style)
    if style.form == "conj":
        first, second = (stmt.b, stmt.a) if style.swap_order else (stmt.a, stmt.b)
        a_short = _noun(stmt.a.category, False, style.synonyms)
        b_short = _noun(stmt.b.category, False, style.synonyms)
        return (
            f"There is {_article(_np(first, style))} and {_article(_np(second, style))}, "
            f"and the {a_short} {style.verb} {rel} the {b_short}."
        )
    return f"The {_np(stmt.a, style)} {style.verb} {rel} the {_np(stmt.b, style)}."


def _has_synonym(stmt: Statement) -> bool:
    descs = [stmt.desc] if isinstance(stmt, Count) else [stmt.a, stmt.b]
    return any(vocab.CATEGORIES[d.category][1] or (d.size and vocab.SIZE_SYNONYMS.get(d.size)) for d in descs)


def hard_positives(stmt: Statement, style: Style, original: str | None = None) -> list[tuple[str, str]]:
    """Meaning-preserving rewrites as (text, type): inverse, synonym, number_form, paraphrase, reorder.

    `original`: `realize(stmt, style)` when the caller has it already.
    """
    out: list[tuple[str, str]] = []
    if _has_synonym(stmt):
        out.append((realize(stmt, _replace(style, synonyms=not style.synonyms)), "synonym"))
    if isinstance(stmt, Count):
        out.append((realize(stmt, _replace(style, digits=not style.digits)), "number_form"))
        out.append((realize(stmt, _replace(style, form="lead" if style.form == "there" else "there")), "paraphrase"))
    else:
        if stmt.rel in vocab.INVERSE:
            out.append((realize(Rel(stmt.b, vocab.INVERSE[stmt.rel], stmt.a), style), "inverse"))
        if style.form == "conj":
            out.append((realize(stmt, _replace(style, swap_order=not style.swap_order)), "reorder"))
        if len(vocab.RELATION_PHRASES[stmt.rel]) > 1:
            out.append((realize(stmt, _replace(style, phrase=style.phrase + 1)), "paraphrase"))
        else:
            verbs = vocab.VERBS
            out.append((realize(stmt, _replace(style, verb=verbs[(verbs.index(style.verb) + 1) % len(verbs)])), "paraphrase"))
    return _dedupe(out, original or realize(stmt, style))


def hard_negatives(
    stmt: Statement,
    style: Style,
    rng: np.random.Generator,
    counts: tuple[int, int] = (1, 5),
    colours: tuple[str, ...] = (),
    original: str | None = None,
) -> list[tuple[str, str]]:
    """Minimal rewrites that are false for a scene where `stmt` holds cleanly, as (text, type).

    Types: relation (inverted relation, swapped arguments, other axis), attribute
    (swapped sizes or colours, changed colour), count (changed number). `original`:
    `realize(stmt, style)` when the caller has it already.
    """
    out: list[tuple[str, str]] = []
    if isinstance(stmt, Count):
        others = [n for n in range(counts[0], counts[1] + 1) if n != stmt.n]
        near = [n for n in others if abs(n - stmt.n) == 1]
        far = [n for n in others if abs(n - stmt.n) > 1]
        picks = [int(_choice(rng, near))] if near else []
        if far:
            picks.append(int(_choice(rng, far)))
        elif len(near) > 1:
            picks = near
        for n in picks:
            out.append((realize(Count(stmt.desc, int(n)), style), "count"))
        if colours and stmt.desc.colour:
            alt = [c for c in colours if c != stmt.desc.colour]
            if alt:
                out.append((realize(Count(_replace(stmt.desc, colour=str(_choice(rng, alt))), stmt.n), style), "attribute"))
        return _dedupe(out, original or realize(stmt, style))
    a, b, rel = stmt.a, stmt.b, stmt.rel
    if rel in vocab.INVERSE:
        out.append((realize(Rel(a, vocab.INVERSE[rel], b), style), "relation"))
    out.append((realize(Rel(b, rel, a), style), "relation"))
    if rel in ("left", "right"):
        cross = str(_choice(rng, ("front", "behind")))
    elif rel in ("front", "behind"):
        cross = str(_choice(rng, ("left", "right")))
    else:
        cross = str(_choice(rng, ("left", "right", "front", "behind")))
    out.append((realize(Rel(a, cross, b), style), "relation"))
    if a.size and b.size and a.size != b.size:
        out.append((realize(Rel(_replace(a, size=b.size), rel, _replace(b, size=a.size)), style), "attribute"))
    if a.colour and b.colour and a.colour != b.colour:
        out.append((realize(Rel(_replace(a, colour=b.colour), rel, _replace(b, colour=a.colour)), style), "attribute"))
    return _dedupe(out, original or realize(stmt, style))


def _dedupe(items: list[tuple[str, str]], original: str) -> list[tuple[str, str]]:
    seen = {original}
    out = []
    for text, kind in items:
        if text not in seen:
            seen.add(text)
            out.append((text, kind))
    return out
