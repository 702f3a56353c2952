"""Hard negatives: rewrites that change the caption's meaning by construction.

swap            exchange the two noun phrases around a (non-symmetric) relation or verb
attribute_swap  exchange attributes between two objects (or move one to the other)
replace         an object, attribute, relation or verb by another of the same kind (never a synonym)
negate          insert "not" / "no" (or remove an existing negation), as CREPE's negate
count           change a number, or "a X" to "two Xs", with verb agreement repaired
"""

from __future__ import annotations

import functools
from typing import Callable

from eqvl.augment import lexicon as L
from eqvl.augment.base import CaptionRandom, Rewrite, agree_aux, agree_verb, make_rewrite, pick, swap_spans
from eqvl.augment.nlp import ADJ, AUX, NEG, NOUN, VERB, Parse, is_plural_noun, pluralize, singularize
from eqvl.augment.wordnet import get_wordnet

_NO_SWAP_RELATIONS = frozenset({"of", "with", "for", "from", "during", "at", "between", "among"}) | L.SYMMETRIC


def _fix_subject_agreement(parse: Parse, words: list[str], after: int, plural: bool,
                           before: int | None = None) -> tuple[list[str], bool]:
    """Make the word after a subject (aux / finite verb), or a 'there is' before it, agree in number."""
    ok = True
    toks = parse.tokens
    if after < len(toks):
        if toks[after].tag == AUX:
            words[after] = agree_aux(words[after], plural)
        elif toks[after].tag == VERB and toks[after].low in L.VERB_FORMS and not toks[after].low.endswith(("ing", "ed")):
            fixed = agree_verb(words[after], plural)
            if fixed is None:
                ok = False
            else:
                words[after] = fixed
        elif toks[after].tag == VERB and toks[after].low.endswith("s") and not toks[after].low.endswith("ss"):
            ok = False  # an unknown finite verb we cannot re-inflect
    if before is not None and before >= 1 and toks[before].tag == AUX and toks[before - 1].low == "there":
        words[before] = agree_aux(words[before], plural)
    return words, ok


# -- swap ------------------------------------------------------------------------------------------------------
_PLACES = frozenset({"outdoors", "ground", "room"})


def _plausible_swap(parse: Parse, link) -> bool:
    """After the swap, a verb still has a person or animal doing it, and no place sits on an object."""
    groups = [L.OBJECT_GROUP.get(singularize(parse.tokens[parse.phrases[i].head].low)) for i in (link.left, link.right)]
    if link.kind == "verb":
        return groups[1] in ("person", "animal")
    return not (set(groups) & _PLACES)


def gen_swap(parse: Parse, original: str, rng: CaptionRandom, k: int, rewriter=None) -> list[Rewrite]:
    """'a dog on a couch' -> 'a couch on a dog': the two phrases around a relation/verb change roles."""
    out = []
    words0 = parse.words()
    cands = []
    for link in parse.links:
        if link.kind not in ("rel", "verb") or (link.kind == "rel" and link.rel in _NO_SWAP_RELATIONS):
            continue
        p, q = parse.phrases[link.left], parse.phrases[link.right]
        if " ".join(words0[p.start:p.end]).lower() == " ".join(words0[q.start:q.end]).lower():
            continue
        if parse.tokens[p.head].low == parse.tokens[q.head].low and not p.adjs and not q.adjs:
            continue
        if q.end < len(parse.tokens) and parse.tokens[q.end].tag == "CONJ":
            continue  # "wearing a suit and tie": the object is a coordination, not one phrase
        cands.append(link)
    # plausible swaps first (text-only models spot "a street driving down a bus"); the rest only if none is
    plausible = [ln for ln in cands if _plausible_swap(parse, ln)]
    for link in pick(rng, plausible or cands, k):
        p, q = parse.phrases[link.left], parse.phrases[link.right]
        words = list(words0)
        valid = True
        if p.plural != q.plural:
            # q becomes the subject of the link's aux / finite verb
            if link.aux >= 0:
                words[link.aux] = agree_aux(words[link.aux], q.plural)
            elif link.verb >= 0 and not parse.tokens[link.verb].low.endswith(("ing", "ed")):
                fixed = agree_verb(words[link.verb], q.plural)
                valid = fixed is not None
                words[link.verb] = fixed or words[link.verb]
            if link.left == 0 and p.start >= 2 and parse.tokens[p.start - 1].tag == AUX:
                words[p.start - 1] = agree_aux(words[p.start - 1], q.plural)
        words = swap_spans(words, (p.start, p.end), (q.start, q.end))
        detail = f"{' '.join(words0[p.start:p.end])} <-> {' '.join(words0[q.start:q.end])}"
        rw = make_rewrite(parse, words, original, "swap", valid, detail)
        if rw:
            out.append(rw)
    return out


# -- attribute swap --------------------------------------------------------------------------------------------
def _attr_tokens(parse: Parse, pi: int) -> list[int]:
    """Lexicon attributes of a phrase, except those inside 'black and white' (they belong together)."""
    toks = parse.tokens
    return [a for a in parse.phrases[pi].adjs if toks[a].cls in L.ATTRIBUTES
            and toks[a - 1].tag != "CONJ" and (a + 1 >= len(toks) or toks[a + 1].tag != "CONJ")]


def _group_of(parse: Parse, pi: int) -> str | None:
    return L.OBJECT_GROUP.get(singularize(parse.tokens[parse.phrases[pi].head].low))


def _can_take(parse: Parse, attr: int, pi: int) -> bool:
    """Whether an attribute may be moved onto phrase pi's object ("a young frisbee" is no caption)."""
    group = L.OBJECT_GROUP.get(singularize(parse.tokens[parse.phrases[pi].head].low))
    cls = parse.tokens[attr].cls
    if group is None or group in ("outdoors", "ground", "room"):
        return False
    if group == "person":
        return cls in ("size", "age")  # "a white woman" would not be about her dress any more
    return cls in ("color", "size", "material") or (cls == "age" and group == "animal")


def _linked(parse: Parse, a: int, b: int) -> str:
    for link in parse.links:
        if link.left == a and link.right == b:
            return link.rel if link.kind == "rel" else link.kind
    return ""


def gen_attribute_swap(parse: Parse, original: str, rng: CaptionRandom, k: int, rewriter=None) -> list[Rewrite]:
    """'a brown dog and a white cat' -> 'a white dog and a brown cat' (attributes change owner)."""
    words0 = parse.words()
    toks = parse.tokens
    cands = []
    n = len(parse.phrases)
    for a in range(n):
        for b in range(a + 1, n):
            pa, pb = parse.phrases[a], parse.phrases[b]
            same_head = toks[pa.head].low == toks[pb.head].low
            link = _linked(parse, a, b)
            if same_head and (not link or link in L.SYMMETRIC or link == "conj"):
                continue  # "a red car and a blue car": swapping colours says the same thing
            ta, tb = _attr_tokens(parse, a), _attr_tokens(parse, b)
            for i in ta:
                for j in tb:
                    wi, wj = toks[i].low, toks[j].low
                    if wi == wj or wj in L.SYNONYMS.get(wi, ()) or toks[i].cls != toks[j].cls:
                        continue
                    if toks[i].cls == "color" and "person" in (_group_of(parse, a), _group_of(parse, b)):
                        continue
                    cands.append(("exchange", i, j))
            if ta and not parse.phrases[b].adjs and not same_head and _can_take(parse, ta[-1], b):
                cands.append(("move", ta[-1], b))
            if tb and not parse.phrases[a].adjs and not same_head and _can_take(parse, tb[-1], a):
                cands.append(("move", tb[-1], a))
    exchanges = [c for c in cands if c[0] == "exchange"]
    cands = exchanges or cands  # an exchange is the cleaner negative; a move only when none exists
    out = []
    for kind, i, j in pick(rng, cands, k):
        words = list(words0)
        if kind == "exchange":
            words[i], words[j] = words[j], words[i]
            detail = f"{words0[i]} <-> {words0[j]}"
        else:
            target = parse.phrases[j]
            insert_at = target.adjs[-1] + 1 if target.adjs else (
                (target.num + 1) if target.num is not None else (target.det + 1 if target.det is not None else target.start))
            moved = words[i]
            words[i] = ""
            words.insert(insert_at, moved)
            detail = f"{moved} moved to {' '.join(words0[target.start:target.end])}"
        rw = make_rewrite(parse, words, original, "attribute_swap", True, detail)
        if rw:
            out.append(rw)
    return out


# -- replace ---------------------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=4096)
def _attribute_alternatives(word: str, cls: str) -> list[str]:
    syn = set(L.SYNONYMS.get(word, ()))
    if word in L.ANTONYMS:
        return [L.ANTONYMS[word]]
    pool = L.CORE_COLORS if cls == "color" else L.ATTRIBUTES[cls]
    return [w for w in pool if w != word and w not in syn and L.SYNONYMS.get(w, ()) != (word,)
            and not (cls == "color" and {w, word} <= {"gray", "grey"})]


def _reverse_synonyms(word: str) -> set[str]:
    return set(L.SYNONYMS.get(word, ())) | set(L.REVERSE_SYNONYMS.get(word, ()))


@functools.lru_cache(maxsize=16384)
def _object_alternatives(base: str) -> list[str]:
    group = L.OBJECT_GROUP.get(base)
    syn = _reverse_synonyms(base)
    if base in L.PERSON_CONTRAST:
        return list(L.PERSON_CONTRAST[base])
    if base in L.GENERIC_NOUNS:
        return []
    if group == "person":
        return [w for w in L.OBJECT_GROUPS[group] if w != base and w not in syn and w not in L.GENERIC_NOUNS
                and w not in L.PERSON_CONTRAST and " " not in w]
    if group is not None:
        return [w for w in L.OBJECT_GROUPS[group] if w != base and w not in syn and " " not in w
                and w not in L.PLURAL_ONLY and not w.endswith("s")]
    wn = get_wordnet()
    if wn is None or len(base) < 3 or not base.isalpha():
        return []
    return [w for w in wn.cohyponyms(base, "n")[:20] if w not in syn and len(w) >= 3]


@functools.lru_cache(maxsize=4096)
def _verb_alternatives(word: str) -> list[str]:
    syn = _reverse_synonyms(word)
    for group in L.VERB_GROUPS:  # the first group a verb is listed in is its primary sense
        if word in group:
            return [w for w in group if w != word and w not in syn]
    return []


def replace_slots(parse: Parse) -> list[tuple[str, int, int, list[str]]]:
    """(kind, start, end, alternatives) for every replaceable word or relation phrase."""
    toks = parse.tokens
    slots = []
    for p in parse.phrases:
        for a in p.adjs:
            if toks[a].cls in L.ATTRIBUTES:
                alts = _attribute_alternatives(toks[a].low, toks[a].cls)
                if alts:
                    slots.append(("attribute", a, a + 1, alts))
        head = toks[p.head]
        if head.cls and " " in head.cls:
            continue  # multi-word nouns ("teddy bear") stay whole
        plural = p.plural if p.head == p.agree_head else is_plural_noun(head.low)
        base = singularize(head.low) if plural else head.low
        if (p.det is None and p.num is None and not plural and base not in L.MASS_NOUNS
                and L.OBJECT_GROUP.get(base) != "ground"):
            continue  # "watching television": a bare singular; "watching remote" would not be English
        present = {t.low for t in toks} | {singularize(t.low) for t in toks}
        alts = [a for a in _object_alternatives(base) if a not in present]  # "a man and a man" is no negative
        if alts:
            slots.append(("object", p.head, p.head + 1, [pluralize(w) if plural else w for w in alts]))
    seen_rel = set()
    for link in parse.links:
        if link.rel and link.rel_start >= 0 and link.rel in L.RELATION_CONTRAST and link.rel_start not in seen_rel:
            seen_rel.add(link.rel_start)
            n_words = len(link.rel.split())
            slots.append(("relation", link.rel_start, link.rel_start + n_words, list(L.RELATION_CONTRAST[link.rel])))
        if link.verb >= 0 and toks[link.verb].low.endswith("ing"):
            alts = _verb_alternatives(toks[link.verb].low)
            if alts:
                slots.append(("verb", link.verb, link.verb + 1, alts))
    return slots


def gen_replace(parse: Parse, original: str, rng: CaptionRandom, k: int, rewriter=None) -> list[Rewrite]:
    """'a brown dog' -> 'a black dog' / 'a brown cat'; 'on' -> 'under'; 'sitting' -> 'standing'."""
    words0 = parse.words()
    out = []
    for kind, s, e, alts in pick(rng, replace_slots(parse), k):
        new = None
        source = "rules"
        if rewriter is not None and e - s == 1 and kind != "relation":
            from eqvl.augment.rewriter import propose_negative

            new = propose_negative(rewriter, words0, s, kind, parse)
            source = "rewriter" if new else source
        if new is None:
            new = rng.choice(alts)
        words = words0[:s] + [new] + words0[e:]
        rw = make_rewrite(parse, words, original, "replace", True,
                          f"{kind}: {' '.join(words0[s:e])} -> {new} ({source})")
        if rw:
            out.append(rw)
    return out


# -- negate ----------------------------------------------------------------------------------------------------
def gen_negate(parse: Parse, original: str, rng: CaptionRandom, k: int, rewriter=None) -> list[Rewrite]:
    """'a dog chasing a cat' -> 'a dog not chasing a cat'; an existing negation is removed instead."""
    toks = parse.tokens
    words = parse.words()
    negs = [i for i, t in enumerate(toks) if t.tag == NEG or t.low == "without"]
    if negs:
        i = negs[0]
        if toks[i].low == "without":
            words[i] = "with"
        elif toks[i].low == "no" and i + 1 < len(toks) and toks[i + 1].tag in (NOUN, ADJ):
            words[i] = "some" if i and toks[i - 1].low in ("with", "there", "are", "is") else "a"
            if toks[i + 1].tag == NOUN and words[i] == "a" and toks[i + 1].low != singularize(toks[i + 1].low):
                words[i] = "some"
        else:
            words[i] = ""
        rw = make_rewrite(parse, words, original, "negate", True, f"removed {toks[i].low!r}")
        return [rw] if rw else []
    if not parse.phrases:
        return []
    first = parse.phrases[0]
    # "there is a dog ..." -> "there is no dog ..."
    if first.det is not None and first.start >= 2 and toks[first.start - 2].low == "there":
        words[first.det] = "no"
        rw = make_rewrite(parse, words, original, "negate", True, "there is a -> there is no")
        return [rw] if rw else []
    for link in parse.links:
        if link.left != 0 or link.kind not in ("rel", "verb") or link.rel in ("of", "for", "from"):
            continue
        if link.kind == "rel" and link.rel == "with" and link.aux < 0:
            words[link.rel_start] = "without"
            detail = "with -> without"
        elif link.aux >= 0:
            words.insert(link.aux + 1, "not")
            detail = "inserted 'not'"
        elif link.verb >= 0 and not toks[link.verb].low.endswith(("ing", "ed")):
            entry = L.VERB_FORMS.get(toks[link.verb].low)
            if entry is None:
                return []  # an unknown finite verb: no safe "does not" form
            # "a cat sits" -> "a cat does not sit"
            words[link.verb: link.verb + 1] = ["do" if toks[link.verb].low == entry[0] else "does", "not", entry[0]]
            detail = "inserted 'does not'"
        else:
            words.insert(link.start, "not")
            detail = "inserted 'not'"
        rw = make_rewrite(parse, words, original, "negate", True, detail)
        return [rw] if rw else []
    # a bare phrase "a brown dog" -> "there is no brown dog"
    if first.start == 0 and all(t.tag == "PUNCT" for t in toks[first.end:]):
        start = max(first.det if first.det is not None else -1, first.num if first.num is not None else -1) + 1
        start = max(start, first.start)
        aux = "are" if first.plural else "is"
        words = ["there", aux, "no"] + words[start:]
    else:
        verbs = [i for i, t in enumerate(toks) if t.tag == VERB and t.low.endswith("ing")]
        if not verbs:
            return []
        words.insert(verbs[0], "not")
    rw = make_rewrite(parse, words, original, "negate", True, "inserted negation")
    return [rw] if rw else []


# -- count -----------------------------------------------------------------------------------------------------
def _new_number(n: int, rng: CaptionRandom) -> int:
    choices = [m for m in (n - 1, n + 1, n + 2) if 1 <= m <= 12 and m != n]
    return rng.choice(choices)


def gen_count(parse: Parse, original: str, rng: CaptionRandom, k: int, rewriter=None) -> list[Rewrite]:
    """'two dogs' -> 'three dogs'; 'a dog' -> 'two dogs' (countable objects only)."""
    toks = parse.tokens
    words0 = parse.words()
    slots = []
    for pi, p in enumerate(parse.phrases):
        head = toks[p.agree_head].low
        if any(toks[a].cls == "poss" for a in p.adjs):
            continue  # "a man's hat": the article belongs to the possessor
        if p.num is not None:
            slots.append((pi, "number"))
        elif (p.det is not None and toks[p.det].low in ("a", "an", "one") and p.head == p.agree_head
              and head in L.OBJECT_GROUP and head not in L.MASS_NOUNS
              and L.OBJECT_GROUP[head] not in ("outdoors", "ground", "room")
              and " " not in head):
            slots.append((pi, "article"))
    out = []
    for pi, kind in pick(rng, slots, k):
        p = parse.phrases[pi]
        words = list(words0)
        if kind == "number":
            tok = toks[p.num].low
            n = int(tok) if tok.isdigit() else L.NUMBER_WORDS[tok]
            m = _new_number(n, rng)
            words[p.num] = str(m) if tok.isdigit() else L.NUMBER_NAMES[m]
            if n == 1 and m > 1:
                words[p.agree_head] = pluralize(toks[p.agree_head].low)
            elif m == 1 and n > 1:
                words[p.agree_head] = singularize(toks[p.agree_head].low)
            plural = m > 1
            detail = f"{tok} -> {words[p.num]}"
        else:
            m = rng.choice((2, 3))
            words[p.det] = L.NUMBER_NAMES[m]
            words[p.agree_head] = pluralize(toks[p.agree_head].low)
            plural = True
            detail = f"{toks[p.det].low} -> {words[p.det]}"
        words, ok = _fix_subject_agreement(parse, words, p.end, plural, p.start - 1)
        rw = make_rewrite(parse, words, original, "count", ok, detail)
        if rw:
            out.append(rw)
    return out


NEGATIVE_GENERATORS: dict[str, Callable[..., list[Rewrite]]] = {
    "swap": gen_swap,
    "attribute_swap": gen_attribute_swap,
    "replace": gen_replace,
    "negate": gen_negate,
    "count": gen_count,
}
