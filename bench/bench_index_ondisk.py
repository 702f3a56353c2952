"""Resident memory of an IVF-PQ index whose inverted lists live on disk, side by side with the same
index held in RAM: the figure behind "past RAM on one machine" (docs/guide/index.md, scaling).

N clustered vectors (bench_index.py's Gaussian generator, --dim 64, spread 0.9) are generated chunk
by chunk and never held at once; an `IVF<--nlist>,PQ<--code-bytes>x8` index is trained on 40 vectors
a list, filled in shards of 500,000 and merged into one `lists.ivfdata` (eqvl.index.ondisk, the way
`eqvl index build --on-disk` does it). (PQ and k-means training cost per sub-quantiser and per list
dominate the build on 2 shared cores, hence the modest defaults; the memory figures scale with N.) The same trained index is also written with its lists in RAM.
Each variant is then opened in a fresh process that answers --queries single queries (held-out
vectors, nprobe --nprobe, k 10) and reports from /proc/self/status: anonymous memory (RssAnon: heap,
what the index costs in RAM) and file-backed pages (RssFile: pages of a memory-mapped file the queries
touched; the OS can drop them under pressure), after opening, after 10 queries and after all, minus the same
process's figures before it opened the index, plus its q/s and whether its top-10 equals the
in-RAM variant's.

    .venv/bin/python bench/bench_index_ondisk.py                     # make bench: 200k vectors, ~1 min
    .venv/bin/python bench/bench_index_ondisk.py --n 2000000 --out r.json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from bench_index import _generator, make_vectors  # noqa: E402

from eqvl.index import ann, ondisk  # noqa: E402

CHUNK = 100_000

#: run in a fresh process per variant: how much of the index becomes resident to answer queries
PROBE = r"""
import json, sys, time
import numpy as np

def status():
    fields = {}
    for line in open("/proc/self/status"):
        key, _, value = line.partition(":")
        if key in ("VmRSS", "RssAnon", "RssFile", "VmHWM"):
            fields[key] = int(value.split()[0]) * 1024
    return fields

import faiss
from eqvl.index import ann
path, how, nprobe, queries_file = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
queries = np.load(queries_file)
before = status()
t0 = time.perf_counter()
index = faiss.read_index(path) if how == "ram" else ann.read(path, mmap=True)
opened = status()
open_s = time.perf_counter() - t0
faiss.omp_set_num_threads(1)
faiss.extract_index_ivf(index).nprobe = nprobe
labels = []
t0 = time.perf_counter()
early = None
for q in queries:
    labels.append(index.search(q[None], 10)[1][0].tolist())
    if len(labels) == 10:
        early = status()
qps = len(queries) / (time.perf_counter() - t0)
after = status()
print(json.dumps({"before": before, "opened": opened, "early": early or after, "after": after, "open_s": open_s, "qps": qps, "labels": labels}))
"""


def chunks(n: int, dim: int, centres, basis):
    for start in range(0, n, CHUNK):
        rows = make_vectors(min(CHUNK, n - start), dim, 1000 + start // CHUNK, centres, basis)
        yield np.arange(start, start + len(rows), dtype=np.int64), rows


def build(root: Path, args) -> tuple[str, float]:
    """The on-disk index (root/ondisk) and the same index with its lists in RAM (root/ram)."""
    import faiss

    centres, basis = _generator(args.dim, 0, args.spread)
    factory = f"IVF{args.nlist},PQ{args.code_bytes}x8"
    train = min(args.n, 40 * args.nlist)
    (root / "ondisk").mkdir(parents=True)
    (root / "ram").mkdir()
    t0 = time.perf_counter()
    index = ondisk.build_on_disk(factory, args.dim, lambda: make_vectors(train, args.dim, 1000, centres, basis),
                                 chunks(args.n, args.dim, centres, basis), root / "ondisk" / "index.faiss",
                                 ann.KMEANS_ITERATIONS)
    build_s = time.perf_counter() - t0
    ondisk.lists_to_memory(index)
    faiss.write_index(index, str(root / "ram" / "index.faiss"))
    np.save(root / "queries.npy", make_vectors(args.queries, args.dim, 7, centres, basis))
    return factory, build_s


def probe(root: Path, variant: str, how: str, nprobe: int) -> dict:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[1] / "src"),
                                                       os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run([sys.executable, "-c", PROBE, str(root / variant / "index.faiss"), how, str(nprobe),
                          str(root / "queries.npy")], capture_output=True, text=True, env=env, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def mib(x: float) -> str:
    return f"{x / 2**20:,.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=200_000)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--code-bytes", type=int, default=16, help="PQ code bytes a vector (sub-quantisers of 8 bits)")
    parser.add_argument("--nlist", type=int, default=1024, help="inverted lists")
    parser.add_argument("--spread", type=float, default=0.9)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--nprobe", type=int, default=16)
    parser.add_argument("--workdir", default=None, help="where the indexes go (default: a temporary folder, removed)")
    parser.add_argument("--out", default=None, help="also write the results as JSON")
    args = parser.parse_args()
    root = Path(args.workdir or tempfile.mkdtemp(prefix="bench_ondisk_"))
    result = {"n": args.n, "dim": args.dim, "code_bytes": args.code_bytes, "nprobe": args.nprobe,
              "queries": args.queries, "load_before": os.getloadavg()}
    try:
        result["factory"], result["build_s"] = build(root, args)
        sizes = {v: {f.name: f.stat().st_size for f in (root / v).iterdir()} for v in ("ram", "ondisk")}
        rows = []
        for label, variant, how in (("lists in RAM (faiss.read_index)", "ram", "ram"),
                                    ("the same file memory-mapped (Index.open(mmap=True))", "ram", "mmap"),
                                    ("lists on disk (lists.ivfdata, memory-mapped)", "ondisk", "mmap")):
            p = probe(root, variant, how, args.nprobe)
            rows.append({"variant": label, "files": sizes[variant], "open_s": round(p["open_s"], 2),
                         "qps_single_1t": round(p["qps"], 1),
                         **{f"{k}_{when}": p[when][k] - p["before"][k] for when in ("opened", "early", "after")
                            for k in ("RssAnon", "RssFile")},
                         "same_top10_as_ram": p["labels"] == rows[0]["labels"] if rows else True, "labels": p["labels"]})
            print(json.dumps({k: v for k, v in rows[-1].items() if k != "labels"}), flush=True)
    finally:
        if not args.workdir:
            shutil.rmtree(root, ignore_errors=True)
    for r in rows:
        r.pop("labels")
    result["rows"], result["load_after"] = rows, os.getloadavg()
    print(f"\n### {result['factory']}: {args.n:,} x {args.dim}-d vectors, {args.code_bytes} B codes; build "
          f"{result['build_s']:.0f} s; {args.queries} single queries at nprobe {args.nprobe}\n")
    print(f"| variant | files on disk, MiB | RAM (anon) after open, MiB | after 10 queries: anon / file-backed, MiB "
          f"| after {args.queries}: anon / file-backed, MiB | q/s single 1t | top-10 = in-RAM |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for r in rows:
        print(f"| {r['variant']} | {mib(sum(r['files'].values()))} | {mib(r['RssAnon_opened'])} | "
              f"{mib(r['RssAnon_early'])} / {mib(r['RssFile_early'])} | "
              f"{mib(r['RssAnon_after'])} / {mib(r['RssFile_after'])} | {r['qps_single_1t']:,.0f} | "
              f"{'yes' if r['same_top10_as_ram'] else 'NO'} |")
    print(f"load average before / after: {result['load_before'][0]:.1f} / {result['load_after'][0]:.1f}")
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
