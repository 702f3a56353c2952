"""Helpers for the `eqvl index` tests: images whose pixels name a row of a vector table, and an
`Encoder` that returns exactly that row — so the whole pipeline (listing, hashing, decoding,
encoding layer, shards, FAISS, SQLite) runs on vectors the test controls."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from tests.helpers import server


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def clustered(n: int, dim: int, clusters: int, seed: int = 0, spread: float = 0.35) -> tuple[np.ndarray, np.ndarray]:
    """n unit vectors around `clusters` random centres, and the centres."""
    rng = np.random.default_rng(seed)
    centres = unit(rng.normal(size=(clusters, dim)))
    which = rng.integers(0, clusters, size=n)
    return unit(centres[which] + spread * rng.normal(size=(n, dim)) / np.sqrt(dim) * 3), centres


class TableEncoder:
    """Image i (pixel (0,0) encodes i) -> table[i]; text 'q<j>' -> queries[j]. Cosine scores."""

    score_kind = "cosine"
    pretrained = "none"

    def __init__(self, table: np.ndarray, queries: np.ndarray, name: str = "table"):
        self.name = name
        self.table = torch.from_numpy(unit(table))
        self.queries = torch.from_numpy(unit(queries))
        self._id = json.dumps({"name": name, "weights": hashlib.blake2b(self.table.numpy().tobytes(),
                                                                         digest_size=8).hexdigest()})

    def identity(self) -> str:
        return self._id

    @staticmethod
    def preprocess(image: Image.Image) -> torch.Tensor:
        r, g, b = image.getpixel((0, 0))
        return torch.tensor([float(r * 65536 + g * 256 + b)])

    def encode_images(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.table[pixels[:, 0].long()]

    def encode_texts(self, texts: list[str]) -> torch.Tensor:
        return self.queries[[int(t[1:]) for t in texts]]

    def score(self, image_emb: torch.Tensor, text_emb: torch.Tensor) -> torch.Tensor:
        return text_emb.float() @ image_emb.float().T


def index_images(root: Path, n: int, start: int = 0, extra: dict[str, list[str]] | None = None) -> Path:
    """n 2x2 PNGs whose first pixel encodes start..start+n-1, and a CSV listing them (with extra columns)."""
    img_dir = root / "img"
    img_dir.mkdir(parents=True, exist_ok=True)
    names = list(extra or {})
    lines = ["\t".join(["filepath", "title", *names])]
    for i in range(start, start + n):
        im = Image.new("RGB", (2, 2), (i // 65536, (i // 256) % 256, i % 256))
        im.putpixel((1, 1), (7, 7, 7))
        im.save(img_dir / f"{i:06d}.png")
        lines.append("\t".join([f"img/{i:06d}.png", f"image {i}", *[extra[c][i - start] for c in names]]))
    csv = root / f"list_{start}_{n}.csv"
    csv.write_text("\n".join(lines) + "\n")
    return csv


def brute_force(db: np.ndarray, queries: np.ndarray, k: int, ids: np.ndarray | None = None) -> list[list[tuple[int, float]]]:
    """numpy top-k by (score desc, id asc) over float16-stored vectors, scores in float64."""
    stored = db.astype(np.float16).astype(np.float64)
    ids = np.arange(len(db)) if ids is None else ids
    out = []
    for q in queries.astype(np.float64):
        s = stored @ q
        order = np.lexsort((ids, -s))[:k]
        out.append([(int(ids[i]), float(s[i])) for i in order])
    return out


def shape_images(root: Path, n: int, size: int = 64) -> list[tuple[str, str, str, str]]:
    """tests.helpers.train's coloured shapes, each made unique (make_images repeats every 12: the index would dedup them)."""
    from tests.helpers.train import make_images

    rows = make_images(root, n, size)
    for i, (rel, *_) in enumerate(rows):
        with Image.open(root / rel) as im:
            im = im.convert("RGB")
        im.putpixel((0, 0), (i % 256, 128, 128))
        im.save(root / rel)
    return rows


class Uvicorn(server.Uvicorn):
    """The shared test server with eqvl's JSON h11 protocol, as `eqvl index serve` runs it."""

    def __init__(self, app):
        from eqvl.index.guard import JsonH11Protocol

        super().__init__(app, http=JsonH11Protocol)


def table_index(root: Path, n: int, dim: int = 16, extra_rows: int = 0, kind: str = "flat", seed: int = 0):
    """An index of n TableEncoder images (the table has n + extra_rows rows, for later adds); query 'q<j>' = row j."""
    from eqvl.index import EmbedOptions, Index

    table = unit(np.random.default_rng(seed).normal(size=(n + extra_rows, dim)))
    enc = TableEncoder(table, table)
    csv = index_images(root, n)
    Index.build(root / "idx", csv, "table", index=kind, encoder=enc,
                options=EmbedOptions(batch_size=256, workers=0, progress=False))
    return root / "idx", enc


def run_index(capsys, *argv) -> tuple[int, str, str]:
    """`eqvl index ARGV` in this process: (exit code, stdout, stderr)."""
    from eqvl.cli import main

    code = main(["index", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def index_error(capsys, *argv) -> str:
    """Run `eqvl index ARGV`, expecting a refusal: exit 2, one `eqvl index: error: ...` line on stderr
    and no server started; returns that line."""
    code, out, err = run_index(capsys, *argv)
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and lines[0].startswith("eqvl index: error: "), (code, out, err)
    assert "serving" not in out
    return lines[0]
