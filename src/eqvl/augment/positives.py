"""Hard positives: rewrites that keep the caption's meaning by construction ("The Hard Positive Truth").

replace  a word or relation by a synonym: the curated list, or (for words the list does not know)
         a WordNet lemma of the same most-frequent synset
swap     exchange the conjuncts around "and" ("a dog and a cat" -> "a cat and a dog", "black and white")
inverse  a spatial relation replaced by its inverse with the arguments swapped
         ("a cup left of a plate" -> "a plate right of a cup"); symmetric relations just swap
passive  "a dog chasing a cat" -> "a cat being chased by a dog" (curated transitive verbs only)
"""

from __future__ import annotations

from typing import Callable

from eqvl.augment import lexicon as L
from eqvl.augment.base import CaptionRandom, Rewrite, agree_aux, make_rewrite, pick, swap_spans
from eqvl.augment.nlp import ADJ, AUX, CONJ, NOUN, NUM, REL, VERB, Parse, is_plural_noun, pluralize, singularize
from eqvl.augment.wordnet import get_wordnet

# WordNet synonyms only for adjectives and verbs: noun synsets mix senses too often ("food" -> "nutrient")
_WN_POS = {ADJ: "a", VERB: "v"}
MAX_WORDNET_SENSES = 3


def ing_form(lemma: str) -> str:
    """Rule-based present participle for WordNet verb lemmas the lexicon does not list."""
    if lemma in L.VERB_FORMS:
        return L.VERB_FORMS[lemma][2]
    if lemma.endswith("ie"):
        return lemma[:-2] + "ying"
    if lemma.endswith("e") and not lemma.endswith(("ee", "ye", "oe")):
        return lemma[:-1] + "ing"
    if (len(lemma) >= 3 and lemma[-1] not in "aeiouwxy" and lemma[-2] in "aeiou" and lemma[-3] not in "aeiou"
            and len(lemma) <= 4):
        return lemma + lemma[-1] + "ing"
    return lemma + "ing"


def _subject_ok(parse: Parse, pi: int) -> bool:
    """Phrase pi is the caption's subject: first phrase, at the start or after 'there is/are'."""
    if pi != 0:
        return False
    p = parse.phrases[0]
    lows = [t.low for t in parse.tokens[: p.start]]
    return lows == [] or lows in (["there", "is"], ["there", "are"])


# -- replace with a synonym ------------------------------------------------------------------------------------
def synonym_slots(parse: Parse) -> list[tuple[int, int, list[str], str]]:
    """(start, end, synonyms, source) for each word/phrase with a meaning-preserving substitute."""
    toks = parse.tokens
    lows = [t.low for t in toks]
    slots = []
    i = 0
    wn = get_wordnet()
    starts = {p.start: p for p in parse.phrases}
    while i < len(toks):
        matched = False
        if toks[i].tag == NUM:  # "two dogs" == "2 dogs"
            value = int(lows[i]) if lows[i].isdigit() else L.NUMBER_WORDS.get(lows[i])
            if value is not None and value in L.NUMBER_NAMES:
                slots.append((i, i + 1, [str(value) if not lows[i].isdigit() else L.NUMBER_NAMES[value]], "number"))
            i += 1
            continue
        ctx = L.CONTEXT_SYNONYMS.get(lows[i])
        if ctx and toks[i].tag == REL and toks[i].cls == lows[i] and i + 1 in starts:
            subs, groups, extra = ctx
            obj = singularize(toks[starts[i + 1].agree_head].low)  # "in the back of a truck": "back" decides
            if L.OBJECT_GROUP.get(obj) in groups or obj in extra:
                slots.append((i, i + 1, list(subs), "context"))
                i += 1
                continue
        for n in ((3, 2, 1) if lows[i] in L.SYNONYM_FIRST_WORDS or toks[i].tag == NOUN else ()):
            if i + n > len(toks):
                continue
            phrase = " ".join(lows[i: i + n])
            tags = {toks[j].tag for j in range(i, i + n)}
            plural_noun = False
            syns = L.SYNONYMS.get(phrase)
            if syns is None and n == 1 and toks[i].tag == NOUN and is_plural_noun(phrase):
                syns = L.SYNONYMS.get(singularize(phrase))
                plural_noun = syns is not None
            if not syns:
                continue
            # the match must be used in the sense the list means: a relation as a relation, a verb as a verb
            if phrase in L.RELATIONS and tags != {REL}:
                continue
            if phrase.endswith("ing") or phrase.split()[0].endswith("ing"):
                if toks[i].tag != VERB:
                    continue
            elif n == 1 and phrase in L.ATTRIBUTE_CLASS and toks[i].tag != ADJ:
                continue
            elif n == 1 and (phrase in L.OBJECT_GROUP or plural_noun) and toks[i].tag != NOUN:
                continue
            if n == 1 and phrase in ("in", "inside") and i + 1 < len(toks) and toks[i + 1].tag not in ("DET", NOUN, ADJ):
                continue
            replacements = [pluralize(s) if plural_noun else s for s in syns]
            slots.append((i, i + n, replacements, "curated"))
            i += n
            matched = True
            break
        if matched:
            continue
        t = toks[i]
        # WordNet only for words outside the curated lists (those have hand-checked synonyms)
        if wn is not None and t.tag in _WN_POS and t.cls != "participle" and t.low.isalpha() and len(t.low) >= 3 and not (
                t.low in L.ATTRIBUTE_CLASS or t.low in L.OBJECT_GROUP or singularize(t.low) in L.OBJECT_GROUP
                or t.low in L.VERB_FORMS or t.low in L.VERB_ING):
            pos = _WN_POS[t.tag]
            if t.tag == VERB and not t.low.endswith("ing"):
                i += 1
                continue
            base = wn.morphy(t.low, pos)
            # only weakly polysemous words: with many senses the first one is often not the caption's
            if base and len(wn.synset_ids(base, pos)) <= MAX_WORDNET_SENSES:
                wn_syns = list(wn.safe_synonyms(base, pos))
                if t.tag == NOUN and base != t.low:
                    wn_syns = [pluralize(s) for s in wn_syns]
                elif t.tag == VERB:
                    wn_syns = [ing_form(s) for s in wn_syns]
                elif t.tag == ADJ and base != t.low:
                    wn_syns = []  # comparatives: "bigger" -> no safe rule to re-inflect
                if wn_syns:
                    slots.append((i, i + 1, wn_syns, "wordnet"))
        i += 1
    return slots


def gen_replace(parse: Parse, original: str, rng: CaptionRandom, k: int, rewriter=None) -> list[Rewrite]:
    words0 = parse.words()
    out = []
    slots = synonym_slots(parse)
    if rewriter is not None:
        slots += _rewriter_slots(parse, rewriter, {s for s, _, _, _ in slots})
    for s, e, syns, source in pick(rng, slots, k):
        new = rng.choice(syns)
        words = words0[:s] + [new] + words0[e:]
        rw = make_rewrite(parse, words, original, "replace", True, f"{' '.join(words0[s:e])} -> {new} ({source})")
        if rw:
            out.append(rw)
    return out


def _rewriter_slots(parse: Parse, rewriter, taken: set[int]) -> list[tuple[int, int, list[str], str]]:
    """Model proposals for words without a listed synonym, kept only when they share a WordNet synset with
    the original word (same part of speech): the model picks the sense, WordNet guarantees the meaning."""
    from eqvl.augment.rewriter import MASK

    wn = get_wordnet()
    if wn is None:
        return []
    toks = parse.tokens
    words = parse.words()
    slots = []
    for i, t in enumerate(toks):
        if i in taken or t.tag not in (ADJ, NOUN, VERB) or t.cls == "poss" or not t.low.isalpha() or len(t.low) < 3:
            continue
        pos = {ADJ: "a", NOUN: "n", VERB: "v"}[t.tag]
        base = wn.morphy(t.low, pos)
        if base is None:
            continue
        masked = " ".join(words[:i] + [MASK] + words[i + 1:])
        keep = []
        for cand in rewriter.fill(masked, 10):
            cand = cand.lower()
            cbase = wn.morphy(cand, pos) if cand.isalpha() else None
            if cbase is None or cbase == base or cand == t.low:
                continue
            # same inflection as the original: both plural or both singular nouns, both -ing verbs
            if pos == "n" and is_plural_noun(cand) != is_plural_noun(t.low):
                continue
            if pos == "v" and cand.endswith("ing") != t.low.endswith("ing"):
                continue
            if wn.share_synset(base, cbase, pos) and wn.tagged_count(cbase, pos) > 0:
                keep.append(cand)
        if keep:
            slots.append((i, i + 1, keep[:1], "rewriter"))
    return slots


def _bare_singular(parse: Parse, ph) -> bool:
    head = parse.tokens[ph.head].low
    return ph.det is None and ph.num is None and not ph.plural and singularize(head) not in L.MASS_NOUNS and \
        L.OBJECT_GROUP.get(head) not in ("ground", "food")


# -- swap conjuncts --------------------------------------------------------------------------------------------
def gen_swap(parse: Parse, original: str, rng: CaptionRandom, k: int, rewriter=None) -> list[Rewrite]:
    toks = parse.tokens
    words0 = parse.words()
    cands = []
    for link in parse.links:
        if link.kind != "conj":
            continue
        p, q = parse.phrases[link.left], parse.phrases[link.right]
        if " ".join(words0[p.start:p.end]).lower() == " ".join(words0[q.start:q.end]).lower():
            continue
        # "a man rides a horse and a dog runs": q starts a new clause -> swapping would change who does what
        if p.head != p.agree_head:
            continue  # "a bowl of broccoli and carrots": the conjunction is inside the of-phrase
        if any(_bare_singular(parse, ph) for ph in (p, q)):
            continue  # "a suit and tie" -> "tie and a suit" reads wrong
        nxt = toks[q.end].tag if q.end < len(toks) else None
        if nxt in (VERB, AUX) and not _subject_ok(parse, link.left):
            continue
        # "a man holding a bat and a ball ..." is fine; "... on a table and a chair ..." is fine too
        cands.append(("np", (p.start, p.end), (q.start, q.end)))
    for p in parse.phrases:
        adjs = p.adjs
        for a, b in zip(adjs, adjs[1:]):
            if b == a + 2 and toks[a + 1].tag == CONJ and toks[a].low != toks[b].low:
                cands.append(("adj", (a, a + 1), (b, b + 1)))
    out = []
    for kind, a, b in pick(rng, cands, k):
        words = swap_spans(list(words0), a, b)
        detail = f"{' '.join(words0[a[0]:a[1]])} <-> {' '.join(words0[b[0]:b[1]])}"
        rw = make_rewrite(parse, words, original, "swap", True, detail)
        if rw:
            out.append(rw)
    return out


# -- inverse relations -----------------------------------------------------------------------------------------
def gen_inverse(parse: Parse, original: str, rng: CaptionRandom, k: int, rewriter=None) -> list[Rewrite]:
    words0 = parse.words()
    out = []
    cands = [ln for ln in parse.links
             if ln.kind == "rel" and (ln.rel in L.INVERSES or ln.rel in L.SYMMETRIC) and _subject_ok(parse, ln.left)]
    for link in pick(rng, cands, k):
        p, q = parse.phrases[link.left], parse.phrases[link.right]
        if " ".join(words0[p.start:p.end]).lower() == " ".join(words0[q.start:q.end]).lower():
            continue
        inv = L.INVERSES.get(link.rel, link.rel)
        between = []
        if link.aux >= 0:
            between.append(agree_aux(words0[link.aux], q.plural))
        between += inv.split()
        prefix = list(words0[: p.start])
        if len(prefix) == 2:  # "there is"
            prefix[1] = agree_aux(prefix[1], q.plural)
        words = prefix + words0[q.start:q.end] + between + words0[p.start:p.end] + words0[q.end:]
        rw = make_rewrite(parse, words, original, "inverse", True, f"{link.rel} -> {inv}, arguments swapped")
        if rw:
            out.append(rw)
    return out


# -- active -> passive -----------------------------------------------------------------------------------------
def gen_passive(parse: Parse, original: str, rng: CaptionRandom, k: int, rewriter=None) -> list[Rewrite]:
    toks = parse.tokens
    words0 = parse.words()
    cands = []
    for link in parse.links:
        if link.kind != "verb" or link.rel or not _subject_ok(parse, link.left):
            continue
        entry = L.VERB_FORMS.get(toks[link.verb].low)
        if entry is None or not entry[4] or toks[link.verb].low == entry[3]:
            continue
        if link.end - link.start != (2 if link.aux >= 0 else 1):
            continue
        q = parse.phrases[link.right]
        if q.end < len(toks) and toks[q.end].tag == CONJ:
            continue  # "wearing a suit and tie": the object is a coordination
        if _bare_singular(parse, q) or (q.det is None and q.num is None and not q.plural):
            continue  # "television being watched by a man": a bare singular cannot open the caption
        if q.det is not None and toks[q.det].low in ("his", "her", "its", "their"):
            continue  # "her teeth being brushed by a girl": the pronoun would precede its antecedent
        cands.append((link, entry))
    out = []
    for link, entry in pick(rng, cands, k):
        p, q = parse.phrases[link.left], parse.phrases[link.right]
        vlow = toks[link.verb].low
        if vlow == entry[2]:  # -ing: "(is) chasing" -> "(is) being chased"
            mid = ([agree_aux(words0[link.aux], q.plural)] if link.aux >= 0 else []) + ["being", entry[3], "by"]
        else:  # finite: "chases" -> "is chased"
            mid = ["are" if q.plural else "is", entry[3], "by"]
        prefix = list(words0[: p.start])
        if len(prefix) == 2:
            prefix[1] = agree_aux(prefix[1], q.plural)
        words = prefix + words0[q.start:q.end] + mid + words0[p.start:p.end] + words0[q.end:]
        rw = make_rewrite(parse, words, original, "passive", True, f"{vlow} -> {' '.join(mid)}")
        if rw:
            out.append(rw)
    return out


POSITIVE_GENERATORS: dict[str, Callable[..., list[Rewrite]]] = {
    "replace": gen_replace,
    "swap": gen_swap,
    "inverse": gen_inverse,
    "passive": gen_passive,
}
