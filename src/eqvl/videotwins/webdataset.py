"""`--format webdataset`: a build's twins as WebDataset tar shards beside the folder layout.

    webdataset/twins-000000.tar, twins-000001.tar, ...   (`shard_size` twins each)

Each twin gives two samples, one per frame, in the layout img2dataset / video2dataset write
(`KEY.jpg`, `KEY.txt`, `KEY.json`): KEY is the twin id with every character outside
[A-Za-z0-9_-] replaced by "_" (WebDataset splits a file name at its first dot) plus `_0` / `_1`;
`.txt` is that frame's caption; `.json` holds `hard_negatives: [the other frame's caption]`, the
twin id and side, and the twins.jsonl row. So `eqvl train --data 'webdataset/twins-{000000..000009}.tar'`
trains on them directly, each twin's other caption as a hard negative, and `webdataset.WebDataset`
reads them too. Tars are deterministic: members in twin order, mtime 0, owner 0.
"""

from __future__ import annotations

import io
import json
import re
import tarfile
from pathlib import Path
from typing import Iterable

from eqvl.io import atomic_open

FOLDER = "webdataset"


def sample_key(twin_id: str, used: set[str]) -> str:
    key = re.sub(r"[^A-Za-z0-9_-]", "_", twin_id)
    base, n = key, 1
    while key in used:
        n += 1
        key = f"{base}_{n}"
    used.add(key)
    return key


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode, info.uid, info.gid, info.uname, info.gname = len(data), 0, 0o644, 0, 0, "", ""
    tar.addfile(info, io.BytesIO(data))


def write_shards(out: str | Path, rows: Iterable[dict], shard_size: int = 1000) -> list[str]:
    """Write the shards under `out/webdataset/` (replacing earlier ones); returns their paths relative to `out`."""
    out = Path(out)
    folder = out / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("twins-*.tar"):
        old.unlink()
    rows = list(rows)
    names: list[str] = []
    used: set[str] = set()
    for start in range(0, max(len(rows), 1), shard_size):
        rel = f"{FOLDER}/twins-{start // shard_size:06d}.tar"
        with atomic_open(out / rel, "wb") as handle, tarfile.open(fileobj=handle, mode="w", format=tarfile.USTAR_FORMAT) as tar:
            for row in rows[start:start + shard_size]:
                key = sample_key(row["id"], used)
                for k in (0, 1):
                    image = out / row[f"image_{k}"]
                    meta = {"hard_negatives": [row[f"caption_{1 - k}"]], "twin": row["id"], "side": k, "row": row}
                    _add(tar, f"{key}_{k}{image.suffix.lower()}", image.read_bytes())
                    _add(tar, f"{key}_{k}.txt", row[f"caption_{k}"].encode("utf-8"))
                    _add(tar, f"{key}_{k}.json", json.dumps(meta, sort_keys=True).encode("utf-8"))
        names.append(rel)
    return names
