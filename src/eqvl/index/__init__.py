"""`eqvl index`: image-text search over a collection — FAISS index, SQLite metadata, re-ranking, HTTP.

    from eqvl.index import Index
    idx = Index.open("idx/")
    hits = idx.search(texts=["a red car left of a bus"], k=10)[0]

Needs the `serve` extra (faiss-cpu; fastapi + uvicorn for `eqvl index serve`).
"""

from eqvl.index.core import Hit, Index, parse_where
from eqvl.index.embedding import EmbedOptions
from eqvl.index.sources import Item, SourceFormat, read_items
from eqvl.index.store import IndexLocked
from eqvl.index.writer import Ranks, WriteReport

__all__ = ["EmbedOptions", "Hit", "Index", "IndexLocked", "Item", "Ranks", "SourceFormat", "WriteReport",
           "parse_where", "read_items"]
