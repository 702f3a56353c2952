"""webdataset-style tar shards (`key.jpg` + `key.txt` [+ `key.json`]) as an indexed, map-style dataset.

Each shard's member headers are read once (an uncompressed tar is walked by seeking, not by
reading the images) and every sample becomes a row pointing at its image bytes inside the tar.
That keeps eqvl's guarantees for collections too large for one disk listing: the same global
batches on 1 or N processes, exact resume, bad samples counted. No `webdataset` package needed.
`key.json` may carry hard_negatives / hard_positives / *_types like the CSV columns.
"""

from __future__ import annotations

import json
import re
import tarfile
from pathlib import Path
from typing import Any

from eqvl.errors import DataError
from eqvl.train.records import DataReport, Row, extra_columns, make_row

IMAGE_EXTS = ("jpg", "jpeg", "png", "webp", "bmp")


def expand_urls(spec: str) -> list[str]:
    """`a.tar::b.tar` and numeric braces `shard-{000..009}.tar` (webdataset's notation)."""
    out: list[str] = []
    for part in spec.split("::"):
        m = re.search(r"\{(\d+)\.\.(\d+)\}", part)
        if not m:
            out.append(part)
            continue
        lo, hi, width = int(m.group(1)), int(m.group(2)), len(m.group(1))
        for i in range(lo, hi + 1):
            out.extend(expand_urls(part[: m.start()] + str(i).zfill(width) + part[m.end():]))
    return out


def _split(name: str) -> tuple[str, str]:
    """webdataset keys: everything before the first dot of the file name; the rest is the field."""
    head, _, base = name.rpartition("/")
    key, dot, ext = base.partition(".")
    return (f"{head}/{key}" if head else key), ext.lower() if dot else ""


def read_shards(spec: str, cfg: Any) -> tuple[list[Row], DataReport, dict[str, bool]]:
    urls = expand_urls(spec)
    report = DataReport(source=spec)
    rows: list[Row] = []
    has = {"hard_negatives": False, "hard_positives": False}
    for url in urls:
        if not Path(url).is_file():
            raise DataError("shard not found", path=url)
        samples: dict[str, dict[str, Any]] = {}
        try:
            with tarfile.open(url, "r:") as tf:
                for m in tf:
                    if not m.isfile():
                        continue
                    key, ext = _split(m.name)
                    entry = samples.setdefault(key, {})
                    if ext in IMAGE_EXTS:
                        entry["image"] = (m.name, m.offset_data, m.size)
                    elif ext in ("txt", "json"):
                        member = tf.extractfile(m)  # None only for a non-regular member, skipped above
                        if member is not None:
                            entry[ext] = member.read().decode("utf-8")
        except (tarfile.TarError, OSError, UnicodeDecodeError) as exc:
            raise DataError(f"not a readable uncompressed tar shard: {exc}", path=url) from None
        for key, entry in samples.items():
            where = f"{url}:{key}"
            report.rows += 1
            meta: dict[str, Any] = {}
            if "json" in entry:
                try:
                    meta = json.loads(entry["json"])
                except json.JSONDecodeError as exc:
                    raise DataError(f"{key}.json: malformed JSON: {exc.msg}", path=url) from None
                if not isinstance(meta, dict):
                    raise DataError(f"{key}.json: expected a JSON object", path=url)
            for col in has:
                has[col] = has[col] or col in meta
            caption = (entry.get("txt") or meta.get("caption") or "").strip()
            reason = None if caption else "empty caption"
            if "image" not in entry:
                reason = "missing image"
            if reason:
                if not cfg.skip_bad:
                    raise DataError(f"{key}: {reason} (`skip_bad` is off)", path=url, params=("skip_bad",))
                report.add_bad(reason, where)
                continue
            negs, pos, ntypes, ptypes = extra_columns(meta, url, None)
            name, offset, size = entry["image"]
            rows.append(make_row(f"{url}/{name}", caption, negs, pos, ntypes, ptypes, where, cfg, report,
                                 blob=(url, offset, size)))
    report.used = len(rows)
    if not rows:
        raise DataError(f"no usable samples ({report.summary()})", path=spec)
    return rows, report, has
