"""How fast is `eqvl index`, and what does each index type cost?

Part 1 (vectors): N clustered synthetic unit vectors (default 50,000 x 512, in chunks straight into
the index's float16 shards; --full 1M) and Q held-out queries (not in the database). For each index type it prints build time, bytes per vector in RAM (the serialised
FAISS index), queries/s at 1 and 2 threads for single queries and for one batch, and recall@10
against exact search. Every figure goes through eqvl's own search path (FAISS candidates +
exact float64 re-scoring from the stored vectors). Exact FAISS is also compared with a numpy
matmul top-k. Goal: an approximate configuration at >= 20x the single-query throughput of exact
FAISS with recall@10 >= 0.95.

Part 2 (service): end-to-end text queries through `eqvl index serve` (a subprocess, uvicorn, the
shipped tiny model, encoding included) at 1 and 8 concurrent clients on loopback: p50 / p99.

Part 3 (build): `index build` images/s against raw encoding of the same images with the same
batch size and workers (goal >= 0.9x); best of --rounds interleaved rounds.

    .venv/bin/python bench/bench_index.py                 # make bench: 50k vectors, minutes
    .venv/bin/python bench/bench_index.py --full          # the 1M run (Gaussian clusters; tens of minutes)
    .venv/bin/python bench/bench_index.py --data synth-clip --n 100000 --skip-http --skip-build
Side by side (part 1): eqvl's size-rule choice, its budget choice tuned to --target-recall (--memory) and
autofaiss's at the same memory (index_compare.py). --data synth-clip: tiny-CLIP image embeddings of
synthetic scenes, caption queries of held-out scenes (synth_clip.py; cached in --cache-dir).
Data: vectors = normalise(centre_c + B z + e): 1,000 random unit centres (topics), z ~ N(0, I_64)
through a shared basis of 64 unit directions scaled so that |B z| ~ --spread (default 0.9: clusters
that touch but do not swallow each other; embeddings have a low intrinsic dimension), and isotropic
noise e with |e| ~ 0.25. Larger --spread makes the clusters overlap (harder for every index):
before 2026-12-02 the basis rows were not normalised, so |B z| was ~20 and the centres vanished —
an unclustered 64-d Gaussian, the worst case for partition-based indexes (docs/guide/index.md keeps
those figures as the hard case; --spread 20 reproduces them).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from eqvl.index import ann, budget, search
from eqvl.index.vectors import VectorStore, write_ids, write_vectors
from eqvl.index.writer import build_from_store

CHUNK = 50_000
#: search parameters a --factory variant may set (eqvl.index.ann.search and search.candidates_for read them)
SEARCH_KEYS = ("nprobe", "efSearch", "rescore")


# ---------------------------------------------------------------- data


def _generator(dim: int, seed: int, spread: float):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(1000, dim)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    basis = rng.normal(size=(64, dim)).astype(np.float32)
    basis *= spread / np.sqrt(64) / np.linalg.norm(basis, axis=1, keepdims=True)  # |B z| ~ spread
    return centres, basis


def make_vectors(n: int, dim: int, seed: int, centres: np.ndarray, basis: np.ndarray) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = centres[rng.integers(0, len(centres), n)] + rng.normal(size=(n, 64)).astype(np.float32) @ basis
    x += rng.normal(size=(n, dim)).astype(np.float32) * (0.25 / np.sqrt(dim))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def write_collection(vec_dir: Path, n: int, dim: int, spread: float) -> tuple[VectorStore, np.ndarray]:
    """Database (in float16 shards, chunk by chunk) and held-out queries (another seed)."""
    centres, basis = _generator(dim, 0, spread)
    stems = []
    for start in range(0, n, CHUNK):
        rows = make_vectors(min(CHUNK, n - start), dim, 1000 + start // CHUNK, centres, basis)
        stem = f"{start // CHUNK:06d}"
        write_vectors(vec_dir, stem, rows)
        write_ids(vec_dir, stem, np.arange(start, start + len(rows), dtype=np.int64))
        stems.append(stem)
    queries = make_vectors(1000, dim, 7, centres, basis)
    return VectorStore(vec_dir, stems, dim), queries


# ---------------------------------------------------------------- measuring


def set_threads(n: int) -> None:
    __import__("faiss").omp_set_num_threads(n)


def qps_single(fn, queries: np.ndarray, seconds: float, min_queries: int = 5) -> float:
    """Queries/s answering one query at a time (bounded: stops after `seconds` or all queries)."""
    started, done = time.perf_counter(), 0
    for q in queries:
        fn(q[None])
        done += 1
        if done >= min_queries and time.perf_counter() - started > seconds:
            break
    return done / (time.perf_counter() - started)


def qps_batch(fn, queries: np.ndarray) -> tuple[float, list]:
    started = time.perf_counter()
    out = fn(queries)
    return len(queries) / (time.perf_counter() - started), out


def measure(name: str, fn, queries, truth, threads: list[int], seconds: float, build_s: float, nbytes: float) -> dict:
    row = {"config": name, "build_s": round(build_s, 1), "bytes_per_vector": round(nbytes, 1)}
    for t in threads:
        set_threads(t)
        row[f"qps_single_{t}t"] = round(qps_single(fn, queries, seconds), 1)
        row[f"qps_batch_{t}t"], found = qps_batch(fn, queries)
        row[f"qps_batch_{t}t"] = round(row[f"qps_batch_{t}t"], 1)
    row["recall_at_10"] = round(search.recall_at(found, truth, 10), 4)
    print(json.dumps(row), flush=True)
    return row


def numpy_topk(matrix: np.ndarray, queries: np.ndarray, k: int = 10) -> list:
    out = []
    for start in range(0, len(queries), 100):  # 100 x N float32 scores at a time
        scores = queries[start : start + 100] @ matrix.T
        part = np.argpartition(-scores, k, axis=1)[:, :k]
        for row, ids in zip(scores, part):
            order = ids[np.argsort(-row[ids], kind="stable")]
            out.append([(int(i), float(row[i])) for i in order])
    return out


# ---------------------------------------------------------------- part 1


def load_data(args) -> tuple[VectorStore, np.ndarray, np.ndarray]:
    """(database, evaluation queries, tuning queries) of --data."""
    started = time.perf_counter()
    if args.data == "synth-clip":
        from synth_clip import synth_clip

        vec_dir, stems, args.dim, queries, tune, _ = synth_clip(Path(args.cache_dir), args.n, args.queries,
                                                                train_steps=args.clip_steps)
        vstore = VectorStore(vec_dir, stems, args.dim)
    else:
        vstore, queries = write_collection(Path(tempfile.mkdtemp(prefix="bench_index_")) / "vectors", args.n, args.dim,
                                           args.spread)
        centres, basis = _generator(args.dim, 0, args.spread)
        tune = make_vectors(200, args.dim, 8, centres, basis)  # another seed than the evaluation queries
    print(f"{args.data}: {len(vstore)} x {args.dim} vectors + {len(queries)} queries in "
          f"{time.perf_counter() - started:.1f} s", flush=True)
    return vstore, queries, tune


def run_vectors(args) -> list[dict]:
    from index_compare import autofaiss_rows, eqvl_rows, goal_lines

    threads = [int(t) for t in args.threads.split(",")]
    vstore, queries, tune = load_data(args)
    rows, k, n = [], args.k, len(vstore)
    deleted = np.zeros(0, np.int64)

    def run(index, spec):
        return lambda qs: search.search(index, spec, vstore, qs, k, n, deleted)

    spec = ann.choose_spec("flat", n, args.dim)
    t0 = time.perf_counter()
    flat = build_from_store(spec, vstore, vstore.ids)
    build_s = time.perf_counter() - t0
    set_threads(max(threads))
    truth = run(flat, spec)(queries)  # exact: every config's recall is measured against this
    rows.append(measure("exact FAISS (Flat)", run(flat, spec), queries, truth, threads, args.seconds, build_s,
                        ann.memory_bytes(flat) / n))
    del flat
    matrix = np.concatenate([rows_ for _, rows_ in vstore.chunks()])
    rows.append(measure("exact numpy matmul top-k", lambda qs: numpy_topk(matrix, qs, k), queries, truth,
                        [max(threads)], args.seconds, 0.0, matrix.nbytes / n))
    memory = budget.parse_memory(args.memory) if args.memory else (  # default: IVF-SQ8 fits, quantiser included
        (args.dim + 64) * n + budget.estimate_bytes(f"IVF{ann.ivf_lists(n, 2.0)},SQ8", 0, args.dim))

    def side(name, fn, qs, tr, build_s, nbytes):
        return measure(name, fn, qs, tr, threads, args.seconds, build_s, nbytes)

    kind = "captions of database scenes" if args.data == "synth-clip" else "held-out generator vectors"
    rows += eqvl_rows(vstore, queries, tune, kind, truth, memory, args.target_recall, run, side)
    if not args.no_autofaiss:
        rows += autofaiss_rows(matrix, queries, truth, memory, side, args.autofaiss_opq_niter, args.autofaiss_prebuilt)
    del matrix
    for line in goal_lines(rows, args.target_recall):
        print("goal:", line, flush=True)
    kinds = (("ivf", args.ivf), ("hnsw", args.hnsw), ("ivfpq", args.ivfpq))
    configs = [(kind, v) for kind, v in kinds if kind in args.kinds.split(",")]
    configs += args.factory
    for kind, variants in configs:
        spec = ann.choose_spec(kind, n, args.dim)
        t0 = time.perf_counter()
        index = build_from_store(spec, vstore, vstore.ids)
        build_s = time.perf_counter() - t0
        nbytes = ann.memory_bytes(index) / n
        for variant in variants.split(";"):
            params = dict(spec.params)
            params.update({key: int(v) for key, v in (kv.split("=") for kv in variant.split(","))})
            tuned = ann.IndexSpec(spec.kind, spec.factory, params)
            label = f"{spec.factory} {variant.replace(',', ' ')}"
            rows.append(measure(label, run(index, tuned), queries, truth, threads, args.seconds, build_s, nbytes))
        del index
    return rows


# ---------------------------------------------------------------- part 2 and 3: tiny model


def _shape_images(root: Path, n: int) -> Path:
    from PIL import Image, ImageDraw

    colours = {"red": (220, 30, 30), "green": (30, 180, 30), "blue": (30, 60, 220), "yellow": (230, 210, 30)}
    (root / "images").mkdir(parents=True, exist_ok=True)
    lines = ["filepath\ttitle"]
    rng = np.random.default_rng(0)
    for i in range(n):
        name = list(colours)[i % 4]
        im = Image.new("RGB", (64, 64), tuple(int(v) for v in rng.integers(90, 160, 3)))
        x, y = (int(v) for v in rng.integers(4, 30, 2))
        ImageDraw.Draw(im).rectangle((x, y, x + 28, y + 28), fill=colours[name])
        im.save(root / "images" / f"{i:05d}.png")
        lines.append(f"images/{i:05d}.png\ta {name} square")
    (root / "list.csv").write_text("\n".join(lines) + "\n")
    return root / "list.csv"


def run_http(args) -> list[dict]:
    import httpx

    from eqvl.index import EmbedOptions, Index

    root = Path(tempfile.mkdtemp(prefix="bench_index_http_"))
    Index.build(root / "idx", _shape_images(root, args.http_images), args.model, "none",
                options=EmbedOptions(workers=0, progress=False))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "eqvl", "index", "serve", str(root / "idx"), "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url, rows = f"http://127.0.0.1:{port}", []
    try:
        for _ in range(600):
            try:
                httpx.get(url + "/health", timeout=2)
                break
            except httpx.TransportError:
                time.sleep(0.5)
        for clients in (1, 8):
            rows.append(_load(url, clients, args.http_requests, args.seconds * 6))
    finally:
        server.terminate()
        server.wait(timeout=30)
    return rows


def _load(url: str, clients: int, requests: int, seconds: float) -> dict:
    import httpx

    latencies: list[float] = []
    lock, deadline = threading.Lock(), time.perf_counter() + seconds
    words = ["red", "green", "blue", "yellow", "small", "large", "left", "right"]

    def client(c: int) -> None:
        with httpx.Client(base_url=url, timeout=60) as http:
            for i in range(c, requests, clients):
                if time.perf_counter() > deadline:
                    return
                text = f"a {words[i % 8]} square number {i}"
                t0 = time.perf_counter()
                http.get("/search", params={"text": text, "k": 10}).raise_for_status()
                with lock:
                    latencies.append(time.perf_counter() - t0)

    http_started = time.perf_counter()
    workers = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    wall = time.perf_counter() - http_started
    ms = sorted(1000 * x for x in latencies)
    row = {"clients": clients, "requests": len(ms), "p50_ms": round(statistics.median(ms), 1),
           "p99_ms": round(ms[min(len(ms) - 1, int(0.99 * len(ms)))], 1), "qps": round(len(ms) / wall, 1)}
    print(json.dumps(row), flush=True)
    return row


def run_build(args) -> dict:
    from eqvl.data.records import ImageRef
    from eqvl.encode import EncodeConfig, encode_images
    from eqvl.index import EmbedOptions, Index, read_items
    from eqvl.models import load_encoder

    root = Path(tempfile.mkdtemp(prefix="bench_index_build_"))
    csv = _shape_images(root, args.build_images)
    refs = [ImageRef(item.path) for item in read_items(csv)]
    encoder = load_encoder(args.model, "none")
    raw, build = [], []
    for r in range(args.rounds):
        t0 = time.perf_counter()
        encode_images(encoder, refs, EncodeConfig(batch_size=64, workers=args.workers, cache=None, progress=False))
        raw.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        Index.build(root / f"idx{r}", csv, args.model, "none", encoder=encoder,
                    options=EmbedOptions(batch_size=64, workers=args.workers, progress=False))
        build.append(time.perf_counter() - t0)
    row = {"images": len(refs), "workers": args.workers, "raw_images_per_s": round(len(refs) / min(raw), 1),
           "build_images_per_s": round(len(refs) / min(build), 1), "ratio": round(min(raw) / min(build), 3),
           "raw_s": [round(x, 2) for x in raw], "build_s": [round(x, 2) for x in build]}
    print(json.dumps(row), flush=True)
    return row


# ---------------------------------------------------------------- report


def factory_variants(text: str) -> tuple[str, str]:
    """`--factory FACTORY@VARIANT;VARIANT` -> (factory, variants), each variant KEY=INT[,KEY=INT]."""
    factory, sep, variants = text.partition("@")
    ok = sep and factory and all(
        k in SEARCH_KEYS and v.isdigit()
        for variant in variants.split(";") for kv in variant.split(",") for k, _, v in [kv.partition("=")])
    if not ok:
        raise argparse.ArgumentTypeError(f"expected FACTORY@KEY=INT[,KEY=INT][;...] with KEY one of "
                                         f"{', '.join(SEARCH_KEYS)}, like 'IVF1024,SQ8@nprobe=16,rescore=100'; got {text!r}")
    return factory, variants


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=50_000, help="database vectors (--full: 1,000,000)")
    parser.add_argument("--full", action="store_true", help="the 1M run: --n 1000000 and every index kind")
    parser.add_argument("--data", choices=("gauss", "synth-clip"), default="gauss",
                        help="gauss: clustered synthetic vectors (below); synth-clip: tiny-CLIP image embeddings of "
                             "synthetic scenes with caption queries of held-out scenes (see synth_clip.py)")
    parser.add_argument("--cache-dir", default=os.path.expanduser("~/.cache/eqvl/bench_index"),
                        help="where --data synth-clip keeps its model and vectors")
    parser.add_argument("--clip-steps", type=int, default=60, help="synth-clip: pre-training steps (the demo's "
                        "--quick: 60)")
    parser.add_argument("--queries", type=int, default=1000, help="synth-clip: held-out caption queries")
    parser.add_argument("--memory", default=None, help="budget for eqvl's --memory choice and autofaiss's "
                        "max_index_memory_usage (default: d + 64 bytes a vector plus the IVF quantiser, so that IVF-SQ8 fits)")
    parser.add_argument("--target-recall", type=float, default=0.95)
    parser.add_argument("--no-autofaiss", action="store_true", help="skip autofaiss's side of the comparison")
    parser.add_argument("--autofaiss-opq-niter", type=int, default=None, help="OPQ iterations for autofaiss's OPQ "
                        "indexes (default: FAISS's 50, as autofaiss leaves it; see index_compare._opq_shim)")
    parser.add_argument("--autofaiss-prebuilt", default=None, help="PREFIX of an autofaiss index built ahead by "
                        "index_compare.py (same vectors and --memory; its build time is reported)")
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("-k", "--k", type=int, default=10)
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--seconds", type=float, default=5.0, help="time bound of each single-query loop")
    parser.add_argument("--kinds", default="ivf", help="eqvl's index kinds to measure (none: only --factory; "
                        "--full: ivf,hnsw,ivfpq)")
    parser.add_argument("--ivf", default="nprobe=8,rescore=100;nprobe=16,rescore=100;nprobe=32,rescore=100")
    parser.add_argument("--hnsw", default="efSearch=64,rescore=40;efSearch=100,rescore=100;efSearch=200,rescore=100",
                        help="search variants, ';'-separated")
    parser.add_argument("--ivfpq", default="nprobe=16,rescore=100;nprobe=32,rescore=100;nprobe=64,rescore=200")
    parser.add_argument("--factory", action="append", default=[], type=factory_variants,
                        help="also a FAISS factory string with its search variants, FACTORY@VARIANT;VARIANT "
                             "(e.g. 'IVF4096,SQ8@nprobe=16,rescore=100;nprobe=32,rescore=100'); repeatable")
    parser.add_argument("--spread", type=float, default=0.9, help="|B z| of the synthetic data (see above)")
    parser.add_argument("--model", default="eqvl-tiny-rn")
    parser.add_argument("--http-images", type=int, default=500)
    parser.add_argument("--http-requests", type=int, default=400)
    parser.add_argument("--build-images", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--skip-vectors", action="store_true")
    parser.add_argument("--skip-http", action="store_true")
    parser.add_argument("--skip-build", action="store_true")
    parser.add_argument("--out", default=None, help="also write the results as JSON")
    args = parser.parse_args()
    if args.full:
        args.n, args.kinds = 1_000_000, "ivf,hnsw,ivfpq"
    result = {"data": args.data, "n": args.n, "dim": args.dim, "spread": args.spread,
              "queries": args.queries if args.data == "synth-clip" else 1000, "load_before": os.getloadavg()}
    if not args.skip_vectors:
        result["vectors"], result["dim"] = run_vectors(args), args.dim  # (synth-clip sets args.dim)
    if not args.skip_http:
        result["http"] = run_http(args)
    if not args.skip_build:
        result["build"] = run_build(args)
    result["load_after"] = os.getloadavg()
    __import__("index_compare").print_tables(result, args.n)
    print(f"load average before / after: {result['load_before'][0]:.1f} / {result['load_after'][0]:.1f}")
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
