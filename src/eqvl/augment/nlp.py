"""A fast caption analyser: tokenise, tag from the curated lexicon (WordNet for unknown words), chunk noun phrases.

Why not a full parser: captions are short and regular ("DET ADJ* NOUN REL DET ADJ* NOUN ..."), and a lexicon
tagger is ~50x faster than a statistical parse, which is what makes >= 2,000 captions/s possible on 2 cores.
The generators only need noun phrases and what links two of them (a relation, a verb, "and").
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field

from eqvl.augment import lexicon as L
from eqvl.augment.wordnet import get_wordnet

_TOKEN_RE = re.compile(r"[^\W_]+(?:[-'’][^\W_]+)*|[^\w\s]|_")
PUNCT = frozenset(".,!?;:")

# tags
DET, NUM, ADJ, NOUN, VERB, AUX, REL, CONJ, NEG, PUNC, OTHER = (
    "DET", "NUM", "ADJ", "NOUN", "VERB", "AUX", "REL", "CONJ", "NEG", "PUNCT", "OTHER")


@dataclass
class Token:
    text: str
    low: str
    tag: str = OTHER
    cls: str = ""  # attribute class, relation phrase id, verb lemma ...


@dataclass
class Phrase:
    """A noun phrase [start, end) with the indices of its parts."""

    start: int
    end: int
    head: int  # index of the head noun (last noun; inner noun of a partitive)
    det: int | None = None
    num: int | None = None
    adjs: list[int] = field(default_factory=list)
    plural: bool = False  # grammatical number for agreement (outer head of a partitive)
    agree_head: int = -1


@dataclass
class Link:
    """What joins phrase `left` to phrase `right`: tokens [start, end) between them."""

    left: int  # phrase index
    right: int
    start: int
    end: int
    kind: str  # "rel", "verb", "conj"
    rel: str = ""  # relation phrase (lower case) when the link ends in one
    rel_start: int = -1
    verb: int = -1  # token index of the verb
    aux: int = -1  # token index of an auxiliary


@dataclass
class Parse:
    tokens: list[Token]
    phrases: list[Phrase]
    links: list[Link]
    capitalized: bool

    def words(self) -> list[str]:
        return [t.text for t in self.tokens]


def tokenize(text: str) -> list[str]:
    return _TOKEN_RE.findall(text.replace("’", "'"))


def detokenize(words: list[str], capitalize: bool) -> str:
    """Join tokens, fix a/an, and restore a leading capital."""
    words = fix_articles([w for w in words if w])
    out = ""
    for w in words:
        if not out:
            out = w
        elif w in PUNCT or w.startswith("'"):
            out += w
        else:
            out += " " + w
    if capitalize and out:
        out = out[0].upper() + out[1:]
    return out


_AN_EXCEPT = ("uni", "use", "usu", "uti", "eu", "one", "once", "ufo", "ukulele", "ute")
_AN_SILENT_H = ("hour", "honest", "honor", "heir")


def article_for(word: str) -> str:
    w = word.lower()
    if w.startswith(_AN_SILENT_H):
        return "an"
    if w[:1] in "aeiou" and not w.startswith(_AN_EXCEPT):
        return "an"
    if w[:1] in "8" or w in ("11", "18"):
        return "an"
    return "a"


def fix_articles(words: list[str]) -> list[str]:
    out = list(words)
    for i in range(len(out) - 1):
        low = out[i].lower()
        if low in ("a", "an") and out[i + 1][:1].isalnum():
            art = article_for(out[i + 1])
            out[i] = art if out[i][0].islower() else art.capitalize()
    return out


# -- number morphology ----------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=65536)
def pluralize(noun: str) -> str:
    if noun in L.IRREGULAR_PLURALS:
        return L.IRREGULAR_PLURALS[noun]
    if " " in noun:
        first, _, last = noun.rpartition(" ")
        return first + " " + pluralize(last)
    if noun.endswith(("s", "sh", "ch", "x", "z")):
        return noun + "es"
    if noun.endswith("y") and noun[-2:-1] not in ("a", "e", "i", "o", "u"):
        return noun[:-1] + "ies"
    return noun + "s"  # knife/wife/life -> -ves are irregulars; "giraffe" is not


@functools.lru_cache(maxsize=65536)
def singularize(noun: str) -> str:
    if noun in L.IRREGULAR_SINGULARS:
        return L.IRREGULAR_SINGULARS[noun]
    if noun.endswith("s") and noun[:-1] in L.OBJECT_GROUP and noun not in L.OBJECT_GROUP:
        return noun[:-1]  # "menus", "tutus"
    if noun in L.PLURAL_ONLY or noun.endswith(("ss", "us", "is")) or not noun.endswith("s"):
        return noun
    if noun.endswith("ies") and len(noun) > 4:
        return noun[:-3] + "y"
    if noun.endswith(("shes", "ches", "xes", "zes", "sses")):
        return noun[:-2]
    return noun[:-1]


@functools.lru_cache(maxsize=65536)
def is_plural_noun(noun: str) -> bool:
    if noun in L.PLURAL_ONLY:
        return noun not in ("sheep", "fish", "deer", "luggage", "broccoli", "rice", "series", "species")
    if noun in L.IRREGULAR_SINGULARS:
        return True
    if noun in L.IRREGULAR_PLURALS or noun in L.OBJECT_GROUP:
        return False
    sing = singularize(noun)
    if sing == noun:
        return False
    if sing in L.OBJECT_GROUP:
        return True
    wn = get_wordnet()
    if wn is not None:
        return wn.has(sing, "n") and not (wn.has(noun, "n") and not noun.endswith("s"))
    return noun.endswith("s")


# -- lexical categories ---------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=131072)
def word_categories(w: str) -> frozenset[str]:
    """Possible open-class categories of a lower-case word: subset of {NOUN, ADJ, VERB}."""
    cats = set()
    if w in L.ATTRIBUTE_CLASS:
        cats.add(ADJ)
    if w in L.OBJECT_GROUP or singularize(w) in L.OBJECT_GROUP or w in L.IRREGULAR_SINGULARS:
        cats.add(NOUN)
    if w in L.VERB_FORMS:
        cats.add(VERB)
    if cats:
        return frozenset(cats)
    wn = get_wordnet()
    if wn is not None and w.isalpha():
        if wn.morphy(w, "n"):
            cats.add(NOUN)
        if wn.morphy(w, "a"):
            cats.add(ADJ)
        if wn.morphy(w, "v"):
            cats.add(VERB)
    return frozenset(cats)


def _is_ing(w: str) -> bool:
    return w.endswith("ing") and len(w) > 4 and w not in L.NON_VERB_ING


def _match_multi(lows: list[str], i: int, table, max_words: int) -> int:
    """Length of the longest phrase in `table` starting at token i (0 if none)."""
    for n in range(min(max_words, len(lows) - i), 0, -1):
        if " ".join(lows[i: i + n]) in table:
            return n
    return 0


def tag(words: list[str]) -> list[Token]:
    """Assign a tag to each token using the lexicon first, WordNet for the rest, and the left context."""
    toks = [Token(w, w.lower()) for w in words]
    lows = [t.low for t in toks]
    n = len(toks)
    i = 0
    while i < n:
        t = toks[i]
        w = t.low
        prev = toks[i - 1].tag if i else None
        k = _match_multi(lows, i, L.MULTIWORD_NOUNS, 3) if w in L.MULTIWORD_FIRST_WORDS else 0
        if k > 1:
            for j in range(i, i + k):
                toks[j].tag = NOUN
            toks[i + k - 1].cls = " ".join(lows[i: i + k])
            i += k
            continue
        k = _match_multi(lows, i, L.RELATIONS, L.RELATION_MAX_WORDS) if w in L.RELATION_FIRST_WORDS else 0
        # "on" etc. are relations; a relation word right after a determiner is not ("the left of")
        if k and not (k == 1 and w in ("down", "up", "past", "over", "opposite") and prev in (DET, ADJ)):
            phrase = " ".join(lows[i: i + k])
            for j in range(i, i + k):
                toks[j].tag = REL
                toks[j].cls = phrase
            i += k
            continue
        if w in PUNCT or not w[:1].isalnum():
            t.tag = PUNC
        elif w.endswith("'s") and len(w) > 2:
            t.tag, t.cls = ADJ, "poss"  # "a man's hat": the possessor modifies the phrase's noun
        elif w in L.DETERMINERS:
            t.tag = DET
        elif w in L.NUMBER_WORDS or w.isdigit():
            t.tag = NUM
        elif w in L.AUXILIARIES:
            t.tag = AUX
        elif w in L.CONJUNCTIONS:
            t.tag = CONJ
        elif w in L.NEGATORS:
            t.tag = NEG
        elif w in L.FUNCTION_WORDS:
            t.tag = OTHER
        elif (w.endswith("ing") and prev == NOUN and i + 1 < n
              and (lows[i + 1] in L.DETERMINERS or lows[i + 1] in L.NUMBER_WORDS)):
            t.tag = VERB  # "a child building a sandcastle": a noun-looking -ing word before an object
        elif _is_ing(w) and w not in L.OBJECT_GROUP:
            # "a sleeping cat": an -ing word between a determiner/adjective and a noun modifies it
            nxt = lows[i + 1] if i + 1 < n else ""
            if prev in (DET, ADJ, NUM) and nxt and NOUN in word_categories(nxt) and nxt not in L.RELATIONS:
                t.tag, t.cls = ADJ, "participle"
            else:
                t.tag = VERB
        else:
            cats = word_categories(w)
            nxt = lows[i + 1] if i + 1 < n else ""
            nxt_cats = word_categories(nxt) if nxt and nxt not in L.RELATIONS and nxt not in L.DETERMINERS else frozenset()
            if w in L.VERB_FORMS and L.VERB_FORMS[w][1] == w and prev in (NOUN,) and w not in L.OBJECT_GROUP:
                t.tag = VERB  # "a cat sits on ..."
            elif w.endswith("ed") and w not in L.NON_VERB_ED and VERB in cats and prev not in (DET, ADJ, NUM) and w not in L.ATTRIBUTE_CLASS:
                t.tag = VERB  # "a car parked on ...", "a plate topped with ..."
            elif ADJ in cats and (NOUN not in cats or NOUN in nxt_cats or ADJ in nxt_cats):
                if NOUN in cats and not nxt_cats:
                    t.tag = NOUN
                else:
                    t.tag = ADJ
                    t.cls = L.ATTRIBUTE_CLASS.get(w, "other")
            elif NOUN in cats:
                t.tag = NOUN
            elif VERB in cats:
                t.tag = VERB
            elif prev in (DET, ADJ, NUM) and w.isalpha():
                t.tag = NOUN  # unknown word after a determiner: a name of a thing
            else:
                t.tag = OTHER
        i += 1
    _retag_headless_adjectives(toks)
    return toks


def _retag_headless_adjectives(toks: list[Token]) -> None:
    """An adjective-tagged word after a determiner with no noun after it is the noun ("a orange")."""
    n = len(toks)
    for i, t in enumerate(toks):
        if t.tag == ADJ and (i + 1 >= n or toks[i + 1].tag not in (ADJ, NOUN, CONJ)) and i and toks[i - 1].tag in (DET, NUM, ADJ):
            if NOUN in word_categories(t.low):
                t.tag, t.cls = NOUN, ""


def chunk(toks: list[Token]) -> list[Phrase]:
    """Noun phrases: DET? NUM? (ADJ | ADJ and ADJ)* NOUN+ [of DET? ADJ* NOUN+ after a partitive head]."""
    phrases: list[Phrase] = []
    n = len(toks)
    i = 0
    while i < n:
        if toks[i].tag not in (DET, NUM, ADJ, NOUN):
            i += 1
            continue
        start = i
        det = num = None
        adjs: list[int] = []
        if toks[i].tag == DET:
            det = i
            i += 1
        if i < n and toks[i].tag == NUM:
            num = i
            i += 1
        nouns: list[int] = []
        while i < n:
            tg = toks[i].tag
            if tg == ADJ and not nouns:
                adjs.append(i)
            elif tg == CONJ and adjs and not nouns and toks[i].low == "and" and i + 1 < n and toks[i + 1].tag == ADJ:
                pass  # "black and white"
            elif tg == NOUN:
                nouns.append(i)
            else:
                break
            i += 1
        if not nouns:
            i = max(i, start + 1)
            continue
        head = nouns[-1]
        agree = head
        # "a group of people", "the side of the road": one phrase; its object is the inner noun,
        # its grammatical number the outer one's
        if i + 1 < n and toks[i].low == "of":
            j = i + 1
            while j < n and toks[j].tag in (DET, NUM, ADJ):
                j += 1
            inner = []
            while j < n and toks[j].tag == NOUN:
                inner.append(j)
                j += 1
            if inner:
                head = inner[-1]
                i = j
        plural = is_plural_noun(toks[agree].low)
        if num is not None:
            plural = toks[num].low not in ("one", "1")
        if det is not None and toks[det].low in ("a", "an", "another", "each", "every", "this", "that"):
            plural = False
        phrases.append(Phrase(start, i, head, det, num, adjs, plural, agree))
    return phrases


def link_phrases(toks: list[Token], phrases: list[Phrase]) -> list[Link]:
    """Describe what stands between consecutive phrases: a relation, a verb (+ preposition) or 'and'."""
    links = []
    for a in range(len(phrases) - 1):
        p, q = phrases[a], phrases[a + 1]
        between = list(range(p.end, q.start))
        if not between:
            continue
        tags = [toks[k].tag for k in between]
        if tags == [CONJ] and toks[between[0]].low == "and":
            links.append(Link(a, a + 1, p.end, q.start, "conj"))
            continue
        aux = between[0] if tags[0] == AUX else -1
        rest = between[1:] if aux >= 0 else between
        rtags = [toks[k].tag for k in rest]
        if rest and all(tg == REL for tg in rtags) and len({toks[k].cls for k in rest}) == 1:
            links.append(Link(a, a + 1, p.end, q.start, "rel", rel=toks[rest[0]].cls, rel_start=rest[0], aux=aux))
        elif rest and rtags[0] == VERB and all(tg == REL for tg in rtags[1:]) and len({toks[k].cls for k in rest[1:]}) <= 1:
            rel = toks[rest[1]].cls if len(rest) > 1 else ""
            links.append(Link(a, a + 1, p.end, q.start, "verb", rel=rel, rel_start=rest[1] if len(rest) > 1 else -1,
                              verb=rest[0], aux=aux))
    return links


def parse(text: str) -> Parse:
    """Analyse one caption. Not cached: real caption files rarely repeat, word-level lookups are cached."""
    words = tokenize(" ".join(text.split()))
    capitalized = bool(words) and words[0][:1].isupper()
    if words and capitalized and (words[0].lower() in L.DETERMINERS or words[0].lower() in L.NUMBER_WORDS
                                  or words[0].lower() in L.FUNCTION_WORDS or words[0][1:].islower()):
        words[0] = words[0][0].lower() + words[0][1:]
    toks = tag(words)
    phrases = chunk(toks)
    return Parse(toks, phrases, link_phrases(toks, phrases), capitalized)

