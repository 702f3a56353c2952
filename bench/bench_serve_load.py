"""Load on a live `eqvl index serve` while `add` and `remove` commit beside it (issue 23).

A small index of synthetic images (the shipped tiny model, random weights: the point is the
service, not the retrieval quality) is served by `eqvl index serve` in a subprocess on loopback.
C client threads send R text queries each (GET /search, k=10) while a writer thread in this
process removes --churn images and adds them back (new ids, same content), again and again,
recording after each commit which ids (and paths) that generation holds.

Printed: requests, errors (non-200 or transport), p50 / p99 latency, commits made, generations
seen by clients, and the consistency check: every response names its generation, and its hits
must be exactly the brute-force top-k over that generation's live rows (ids, paths, scores to
1e-4) — so a hit of a removed image, or a mix of two generations, counts as inconsistent.

    .venv/bin/python bench/bench_serve_load.py                         # 8 clients x 500 requests
    .venv/bin/python bench/bench_serve_load.py --clients 2 --requests 50 --images 100
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

WORDS = ["red", "green", "blue", "yellow", "small", "large", "left", "right"]


def _images(root: Path, n: int) -> Path:
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(0)
    (root / "images").mkdir(parents=True, exist_ok=True)
    lines = ["filepath\ttitle"]
    for i in range(n):
        im = Image.new("RGB", (64, 64), tuple(int(v) for v in rng.integers(60, 200, 3)))
        x, y = (int(v) for v in rng.integers(2, 34, 2))
        ImageDraw.Draw(im).ellipse((x, y, x + 28, y + 28), fill=tuple(int(v) for v in rng.integers(0, 255, 3)))
        im.save(root / "images" / f"{i:05d}.png")
        lines.append(f"images/{i:05d}.png\timage {i}")
    (root / "list.csv").write_text("\n".join(lines) + "\n")
    return root / "list.csv"


class Writer(threading.Thread):
    """remove --churn paths, add them back; after every commit record {generation: {id: path}}."""

    def __init__(self, idx, root: Path, churn: int, stop: threading.Event):
        super().__init__(daemon=True)
        self.idx, self.root, self.churn, self.stop = idx, root, churn, stop
        self.live: dict[str, dict[int, str]] = {}
        self.error = ""
        self._record()

    def _record(self) -> None:
        ids = self.idx.meta.live_ids()
        self.live[self.idx.generation.name] = {i: r["path"] for i, r in self.idx.meta.rows(list(ids)).items()}

    def run(self) -> None:
        from eqvl.index import EmbedOptions

        n = 0
        try:
            while not self.stop.is_set():
                paths = sorted(self.live[self.idx.generation.name].values())[n % 7 :: 7][: self.churn]
                self.idx.remove(paths)
                self._record()
                listing = self.root / "readd.csv"
                listing.write_text("filepath\ttitle\n" + "".join(f"{p}\tre-added\n" for p in paths))
                self.idx.add(listing, options=EmbedOptions(workers=0, progress=False))
                self._record()
                n += 1
        except Exception as exc:  # noqa: BLE001 - reported in the summary
            self.error = repr(exc)


def _client(url: str, texts: list[str], requests: int, c: int, out: list, lock: threading.Lock) -> None:
    import httpx

    with httpx.Client(base_url=url, timeout=60) as http:
        for i in range(requests):
            text = texts[(c * 7 + i) % len(texts)]
            t0 = time.perf_counter()
            try:
                r = http.get("/search", params={"text": text, "k": 10})
                body = r.json() if r.status_code == 200 else {"error": r.text[:200]}
                status = r.status_code
            except httpx.HTTPError as exc:
                body, status = {"error": repr(exc)}, 0
            with lock:
                out.append((text, status, body, time.perf_counter() - t0))


def _expected(vec_by_path: dict[str, np.ndarray], live: dict[int, str], q: np.ndarray, k: int) -> list[float]:
    paths = sorted(set(live.values()))
    scores = np.stack([vec_by_path[p] for p in paths]).astype(np.float64) @ q.astype(np.float64)
    return sorted(scores.tolist(), reverse=True)[:k]


def check(results: list, writer: Writer, vec_by_path: dict, query_vec: dict, k: int) -> tuple[int, list[str]]:
    """(inconsistent count, first few reasons): each response against its generation's brute-force top-k."""
    bad, reasons, cache = 0, [], {}
    for text, status, body, _ in results:
        if status != 200:
            continue
        gen = body.get("generation")
        live = writer.live.get(gen)
        why = ""
        if live is None:
            why = f"generation {gen} was never committed"
        elif any(h["id"] not in live or live[h["id"]] != h["path"] for h in body["hits"]):
            why = f"{gen}: a hit that is not a live row of that generation"
        else:
            key = (gen, text)
            if key not in cache:
                cache[key] = _expected(vec_by_path, live, query_vec[text], k)
            got = [h["score"] for h in body["hits"]]
            if len(got) != len(cache[key]) or np.max(np.abs(np.array(got) - cache[key]), initial=0) > 1e-4:
                why = f"{gen}: scores differ from the brute-force top-{k} of that generation"
        if why:
            bad += 1
            reasons.append(why)
    return bad, reasons[:5]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", type=int, default=400)
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--requests", type=int, default=500, help="per client")
    p.add_argument("--churn", type=int, default=10, help="images removed and re-added per writer cycle")
    p.add_argument("--model", default="eqvl-tiny-rn")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()

    import httpx

    from eqvl.index import EmbedOptions, Index

    root = Path(tempfile.mkdtemp(prefix="bench_serve_load_"))
    Index.build(root / "idx", _images(root, args.images), args.model, "none", options=EmbedOptions(workers=0, progress=False))
    writer_idx = Index.open(root / "idx")
    ids = writer_idx.meta.live_ids()
    rows = writer_idx.meta.rows(list(ids))
    vec_by_path = {rows[i]["path"]: v for i, v in zip(ids, writer_idx.vectors.get(ids))}
    texts = [f"a {a} {b} circle" for a in WORDS for b in WORDS[:4]]
    query_vec = dict(zip(texts, writer_idx.embed_query(texts=texts)))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "eqvl", "index", "serve", str(root / "idx"), "--port", str(port)],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        assert "serving" in server.stdout.readline()
        httpx.get(url + "/health", timeout=60).raise_for_status()
        stop = threading.Event()
        writer = Writer(writer_idx, root, args.churn, stop)
        writer.start()
        results: list = []
        lock = threading.Lock()
        started = time.perf_counter()
        clients = [threading.Thread(target=_client, args=(url, texts, args.requests, c, results, lock))
                   for c in range(args.clients)]
        for c in clients:
            c.start()
        for c in clients:
            c.join()
        wall = time.perf_counter() - started
        stop.set()
        writer.join(timeout=120)
    finally:
        server.terminate()
        server.wait(timeout=30)
    ms = sorted(1000 * r[3] for r in results)
    errors = [r for r in results if r[1] != 200]
    inconsistent, reasons = check(results, writer, vec_by_path, query_vec, 10)
    summary = {
        "clients": args.clients, "requests": len(results), "errors": len(errors), "images": args.images,
        "p50_ms": round(statistics.median(ms), 1), "p99_ms": round(ms[int(0.99 * (len(ms) - 1))], 1),
        "requests_per_s": round(len(results) / wall, 1), "wall_s": round(wall, 1),
        "commits": len(writer.live) - 1, "generations_seen": len({r[2].get("generation") for r in results if r[1] == 200}),
        "inconsistent": inconsistent, "writer_error": writer.error or None,
        "first_errors": [r[2].get("error") for r in errors[:3]], "inconsistent_reasons": reasons,
    }
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        for key, value in summary.items():
            print(f"{key:<22} {value}")
    ok = not errors and not inconsistent and not writer.error
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
