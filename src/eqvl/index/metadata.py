"""Metadata of indexed images in SQLite (standard library): id, path, caption, content hash, extra columns.

One table `items`; the input's extra columns become TEXT columns (added as new inputs bring them).
A live generation's file is opened read-only and `immutable` (it never changes once live), so
readers take no locks; writers work on a private copy inside the next generation.
Column names reach SQL only after being checked against the table's own columns.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from eqvl.errors import EqvlError

BASE_COLUMNS = ("id", "path", "caption", "hash")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    id INTEGER PRIMARY KEY, path TEXT NOT NULL UNIQUE, caption TEXT NOT NULL DEFAULT '', hash TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS items_hash ON items(hash);
"""


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class MetaStore:
    """A connection to one generation's metadata file. Read-only stores open it at once (the
    open file stays readable after a newer generation replaces it) and serialise queries with a
    lock, so the HTTP server's worker threads can share it."""

    def __init__(self, conn: sqlite3.Connection, path: Path):
        self.conn, self.path = conn, path
        self._lock = threading.Lock()
        self._columns: list[str] | None = None

    @classmethod
    def open_readonly(cls, path: Path) -> "MetaStore":
        if not path.is_file():
            raise EqvlError(f"{path}: metadata file missing (corrupt index)")
        uri = f"file:{path.resolve()}?mode=ro&immutable=1"
        conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
        store = cls(conn, path)
        try:
            store._columns = store.columns()  # reads the file now (and never changes: the file is immutable)
            if not {"id", "path", "hash"} <= set(store._columns):
                raise sqlite3.DatabaseError("no items table")
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise EqvlError(f"{path}: not a readable eqvl metadata file ({exc}) (corrupt index)") from None
        return store

    def _all(self, sql: str, params: Sequence = ()) -> list[tuple]:
        with self._lock:
            return self.conn.execute(sql, params).fetchall()

    @classmethod
    def create(cls, path: Path, copy_from: Path | None = None) -> "MetaStore":
        """A writable store at `path`: empty, or a copy of `copy_from` (SQLite's backup API)."""
        conn = sqlite3.connect(path)
        if copy_from is not None:
            src = MetaStore.open_readonly(copy_from)
            src.conn.backup(conn)
            src.close()
        conn.execute("PRAGMA secure_delete = ON")  # deleted / replaced rows leave zeros, not their text
        conn.executescript(_SCHEMA)
        return cls(conn, path)

    def close(self) -> None:
        self.conn.close()

    # ------------------------------------------------------------ reading

    def columns(self) -> list[str]:
        if self._columns is not None:
            return list(self._columns)
        return [row[1] for row in self._all("PRAGMA table_info(items)")]

    def count(self) -> int:
        return int(self._all("SELECT COUNT(*) FROM items")[0][0])

    def ids_by_hash(self, hashes: Iterable[str]) -> dict[str, int]:
        out: dict[str, int] = {}
        wanted = list(dict.fromkeys(hashes))
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for hash_, id_ in self._all(f"SELECT hash, id FROM items WHERE hash IN ({marks})", chunk):
                out.setdefault(hash_, id_)
        return out

    def ids_by_path(self, paths: Sequence[str]) -> dict[str, int]:
        out: dict[str, int] = {}
        for start in range(0, len(paths), 500):
            chunk = list(paths[start : start + 500])
            marks = ",".join("?" * len(chunk))
            out.update(self._all(f"SELECT path, id FROM items WHERE path IN ({marks})", chunk))
        return out

    def rows_by_path(self, paths: Sequence[str]) -> dict[str, dict[str, str]]:
        """path -> {column: value} for the indexed ones among `paths`."""
        cols = self.columns()
        out: dict[str, dict[str, str]] = {}
        for start in range(0, len(paths), 500):
            chunk = list(paths[start : start + 500])
            marks = ",".join("?" * len(chunk))
            for row in self._all(f"SELECT * FROM items WHERE path IN ({marks})", chunk):
                record = dict(zip(cols, row))
                out[record["path"]] = record
        return out

    def rows(self, ids: Sequence[int]) -> dict[int, dict[str, str]]:
        """id -> {column: value} for the given ids (missing ids are absent)."""
        cols = self.columns()
        out: dict[int, dict[str, str]] = {}
        for start in range(0, len(ids), 500):
            chunk = [int(i) for i in ids[start : start + 500]]
            marks = ",".join("?" * len(chunk))
            for row in self._all(f"SELECT * FROM items WHERE id IN ({marks})", chunk):
                out[int(row[0])] = dict(zip(cols, row))
        return out

    def live_ids(self) -> np.ndarray:
        return np.fromiter((r[0] for r in self._all("SELECT id FROM items ORDER BY id")), dtype=np.int64)

    def filter_ids(self, where: dict[str, list[str]]) -> np.ndarray:
        """Sorted ids matching every key (a key given several values matches any of them)."""
        cols = self.columns()
        unknown = [k for k in where if k not in cols or k == "id"]
        if unknown:
            valid = ", ".join(c for c in cols if c != "id")
            raise EqvlError(f"`where`: unknown column {unknown[0]!r}; columns: {valid}", params=("where",))
        clauses, params = [], []
        for key, values in where.items():
            clauses.append(f"{_quote(key)} IN ({','.join('?' * len(values))})")
            params.extend(values)
        sql = "SELECT id FROM items" + (" WHERE " + " AND ".join(clauses) if clauses else "") + " ORDER BY id"
        return np.fromiter((r[0] for r in self._all(sql, params)), dtype=np.int64)

    # ------------------------------------------------------------ writing (private copies only)

    def _add_columns(self, rows: Sequence[tuple[int, str, str, str, dict[str, str]]]) -> None:
        cols = set(self.columns())
        for extra_key in dict.fromkeys(k for row in rows for k in row[4]):
            if extra_key not in cols:
                self.conn.execute(f"ALTER TABLE items ADD COLUMN {_quote(extra_key)} TEXT")
                cols.add(extra_key)

    def insert(self, rows: Sequence[tuple[int, str, str, str, dict[str, str]]]) -> None:
        """(id, path, caption, hash, extra) rows; new extra columns are added as TEXT."""
        self._add_columns(rows)
        by_keys: dict[tuple[str, ...], list[tuple]] = {}
        for id_, path, caption, hash_, extra in rows:
            keys = tuple(sorted(extra))
            by_keys.setdefault(keys, []).append((id_, path, caption, hash_, *(extra[k] for k in keys)))
        for keys, values in by_keys.items():
            names = ",".join(_quote(c) for c in (*BASE_COLUMNS, *keys))
            marks = ",".join("?" * (len(BASE_COLUMNS) + len(keys)))
            self.conn.executemany(f"INSERT INTO items ({names}) VALUES ({marks})", values)

    def update(self, rows: Sequence[tuple[int, str, str, str, dict[str, str]]]) -> None:
        """New caption and extra-column values for existing ids (columns not given keep their value)."""
        self._add_columns(rows)
        for id_, _path, caption, _hash, extra in rows:
            keys = sorted(extra)
            sets = ",".join(f"{_quote(c)} = ?" for c in ("caption", *keys))
            self.conn.execute(f"UPDATE items SET {sets} WHERE id = ?", (caption, *(extra[k] for k in keys), int(id_)))

    def delete(self, ids: Sequence[int]) -> None:
        """Delete rows; `secure_delete` (on for every writable copy) overwrites their bytes in the file."""
        self.conn.executemany("DELETE FROM items WHERE id = ?", [(int(i),) for i in ids])

    def index_columns(self) -> None:
        """An SQLite index on every extra column, so `--where` does not scan the whole table."""
        for col in self.columns():
            if col not in BASE_COLUMNS:
                name = _quote("items_col_" + col)
                self.conn.execute(f"CREATE INDEX IF NOT EXISTS {name} ON items({_quote(col)})")

    def finish(self) -> None:
        """Index the filterable columns, commit and close a writable copy (it becomes part of a generation)."""
        self.index_columns()
        self.conn.commit()
        self.conn.close()
