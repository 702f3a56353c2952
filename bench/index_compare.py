"""bench_index.py's side-by-side rows: eqvl's size-rule and budget-tuned choices, and autofaiss's
choice at the same memory budget (its `build_index(max_index_memory_usage=...)` with its own
tuning; searched as clip-retrieval searches it: plain FAISS with autofaiss's parameters, no
re-scoring), plus a recall vs q/s curve over autofaiss's search knob.

autofaiss 2.18.0 declares numpy<2 and pandas<3, so pip cannot install it beside eqvl's numpy 2.x
(the resolver would downgrade numpy for everyone); the bench imports it when present, e.g. from
`pip install --no-deps --target /tmp/autofaiss_pkgs autofaiss embedding-reader fire termcolor pandas pytz`
plus PYTHONPATH=/tmp/autofaiss_pkgs (it runs with numpy 2.4 and pandas 3 in practice).
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np

from eqvl.index import ann, search
from eqvl.index.tuning import IndexPlan, given_queries

Measure = Callable[..., dict]


def eqvl_rows(vstore, queries, tune, tune_kind: str, truth, memory: int, target: float, run,
              measure: Measure) -> list[dict]:
    """The size rule's choice (default parameters) and the budget-tuned choice (tuned on `tune`)."""
    rows, n = [], len(vstore)
    spec = ann.choose_spec("auto", n, vstore.dim)
    if not spec.exact:  # (exact FAISS is already the first row)
        t0 = time.perf_counter()
        from eqvl.index.writer import build_from_store

        index = build_from_store(spec, vstore, vstore.ids)
        rows.append(measure(f"eqvl size rule: {spec.factory} {spec.params}", run(index, spec), queries, truth,
                            time.perf_counter() - t0, ann.memory_bytes(index) / n))
        del index
    plan = IndexPlan(memory=memory, target_recall=target, queries=given_queries(tune, tune_kind))
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        spec, index = plan.build(vstore, vstore.ids, Path(folder))
    build_s = time.perf_counter() - t0
    t = spec.facts["tuning"]
    label = (f"eqvl budget {memory / n:.0f} B/vector: {spec.factory} {spec.params} (tuned recall {t['recall']:.3f} "
             f"on {t['queries']} {t['query_kind']})")
    rows.append(measure(label, run(index, spec), queries, truth, build_s, ann.memory_bytes(index) / n))
    return rows


def _autofaiss_knob(index_param: str) -> tuple[str, int] | None:
    m = re.search(r"(nprobe|efSearch)=(\d+)", index_param)
    return (m.group(1), int(m.group(2))) if m else None


def _opq_shim(faiss, opq_niter: int | None = None) -> None:
    """autofaiss 2.18.0 calls faiss.OPQMatrix(d, M=m, d2=d2); FAISS 1.15's SWIG constructor takes no keywords
    (TypeError), so every OPQ index autofaiss picks fails to build. Positional arguments, same meaning.
    `opq_niter`: OPQ's alternating iterations (FAISS's default, which autofaiss keeps, is 50; each trains M
    sub-quantisers' k-means, 40 passes in the first iteration, 4 after) -- almost all of autofaiss's build
    time on 2 cores; fewer only where its default cannot finish in the time a run has (said in the row)."""
    original = faiss.OPQMatrix
    try:
        original(8, M=2, d2=8)
        keywords = True
    except TypeError:
        keywords = False
    if keywords and opq_niter is None:
        return

    def opq(d=0, M=1, d2=-1):
        matrix = original(d, M, d2)
        if opq_niter is not None:
            matrix.niter = opq_niter
        return matrix

    faiss.OPQMatrix = opq


def build_autofaiss(matrix: np.ndarray, memory: int, opq_niter: int | None = None):
    """(index, infos, build seconds): autofaiss's `build_index` at `memory` bytes, its own choice and tuning."""
    import faiss
    from autofaiss import build_index

    _opq_shim(faiss, opq_niter)
    threads = faiss.omp_get_max_threads()
    t0 = time.perf_counter()
    index, infos = build_index(np.ascontiguousarray(matrix, dtype=np.float32), save_on_disk=False,
                               max_index_memory_usage=f"{max(1, memory // 1024)}K", current_memory_available="8G",
                               metric_type="ip", verbose=int(os.environ.get("AUTOFAISS_VERBOSE", "40")))
    build_s = time.perf_counter() - t0
    faiss.omp_set_num_threads(threads)
    return index, {**infos, "opq_niter": opq_niter}, build_s


def load_autofaiss(prefix: str):
    """An index saved by `python bench/index_compare.py` (PREFIX.faiss + PREFIX.json), as build_autofaiss returns it."""
    import faiss

    info = json.loads(Path(prefix + ".json").read_text())
    return faiss.read_index(prefix + ".faiss"), info["infos"], info["build_s"]


def autofaiss_rows(matrix: np.ndarray, queries, truth, memory: int, measure: Measure,
                   opq_niter: int | None = None, prebuilt: str | None = None) -> list[dict]:
    """autofaiss at the same budget: its choice at its own parameters, then a sweep of its knob."""
    try:
        import faiss
        import autofaiss  # noqa: F401
    except ImportError as exc:
        print(f"autofaiss not measured: {exc} (see bench/index_compare.py for why pip cannot install it here)")
        return []
    n = len(matrix)
    if prebuilt:
        index, infos, build_s = load_autofaiss(prebuilt)
        opq_niter = infos.get("opq_niter")
        if index.ntotal != n or infos.get("memory") != memory:
            raise SystemExit(f"{prebuilt}: built for {index.ntotal} vectors / {infos.get('memory')} B, not {n} / {memory}")
    else:
        index, infos, build_s = build_autofaiss(matrix, memory, opq_niter)
    nbytes = faiss.serialize_index(index).nbytes / n
    space = faiss.ParameterSpace()

    def run(param: str):
        def fn(qs):
            space.set_index_parameters(index, param)
            scores, labels = index.search(np.ascontiguousarray(qs, dtype=np.float32), 10)
            return [[(int(i), float(s)) for i, s in zip(ls, ss) if i >= 0] for ls, ss in zip(labels, scores)]
        return fn

    key, param = infos["index_key"], infos["index_param"]
    if opq_niter is not None and key.startswith("OPQ"):
        key = f"{key} (OPQ niter {opq_niter}, not 50)"
    rows = [measure(f"autofaiss: {key} {param} (its own tuning)", run(param), queries, truth, build_s, nbytes)]
    knob = _autofaiss_knob(param)
    if knob:
        name, chosen = knob
        for value in sorted({v for v in (4, 8, 16, 32, 64, 128, 256, 512, 1024) if v != chosen}):
            rows.append(measure(f"autofaiss: {key} {name}={value}", run(re.sub(rf"{name}=\d+", f"{name}={value}", param)),
                                queries, truth, build_s, nbytes))
    return rows


def goal_lines(rows: list[dict], target: float = 0.95) -> list[str]:
    """Which goals the rows meet: eqvl's budget choice at recall >= target at least as fast (single
    query, 1 thread) as autofaiss's fastest setting at recall >= target; and >= 20x exact FAISS."""
    exact = rows[0]["qps_single_1t"]
    ours = [r for r in rows if r["config"].startswith("eqvl budget") and r["recall_at_10"] >= target]
    theirs = [r for r in rows if r["config"].startswith("autofaiss") and r["recall_at_10"] >= target]
    out = []
    if not ours:
        out.append(f"NOT MET: eqvl's budget choice stays below recall@10 {target} on these queries")
        return out
    best = max(r["qps_single_1t"] for r in ours)
    out.append(f"eqvl budget choice: recall@10 {ours[0]['recall_at_10']:.3f}, {best:.0f} q/s single = "
               f"{best / exact:.1f}x exact FAISS ({'met' if best >= 20 * exact else 'NOT met'}: >= 20x)")
    if theirs:
        fast = max(r["qps_single_1t"] for r in theirs)
        out.append(f"autofaiss's fastest setting at recall@10 >= {target}: {fast:.0f} q/s single -> eqvl "
                   f"{best / fast:.2f}x ({'met' if best >= fast else 'NOT met'}: at least as fast)")
    elif any(r["config"].startswith("autofaiss") for r in rows):
        out.append(f"autofaiss reaches recall@10 {target} at no measured setting (eqvl does): met")
    return out


def exact_recall(found, truth) -> float:
    return search.recall_at(found, truth, 10)


def print_tables(result: dict, n: int) -> None:
    vec = result.get("vectors", [])
    if vec:
        exact = vec[0]["qps_single_1t"]
        data = "tiny-CLIP images, caption queries of held-out scenes" if result.get("data") == "synth-clip" else \
            f"Gaussian clusters, spread {result['spread']}"
        print(f"\n### {n:,} vectors x {result['dim']} d ({data}), {result['queries']} held-out queries, k = 10\n")
        print("| config | build s | bytes/vector | q/s single 1t | q/s single 2t | q/s batch 1t | q/s batch 2t "
              "| recall@10 | single 1t vs exact FAISS |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        for r in vec:
            cells = [r.get(f"qps_{m}_{t}t", "-") for m in ("single", "batch") for t in (1, 2)]
            speed = f"{r.get('qps_single_1t', r.get('qps_single_2t', 0)) / exact:.1f}x" if exact else ""
            print(f"| {r['config']} | {r['build_s']} | {r['bytes_per_vector']} | " + " | ".join(map(str, cells))
                  + f" | {r['recall_at_10']:.3f} | {speed} |")
    for r in result.get("http", []):
        print(f"HTTP text search, {r['clients']} client(s): p50 {r['p50_ms']} ms, p99 {r['p99_ms']} ms, "
              f"{r['qps']} q/s over {r['requests']} requests")
    if result.get("build"):
        b = result["build"]
        print(f"index build {b['build_images_per_s']} images/s vs raw encoding {b['raw_images_per_s']} images/s: "
              f"{b['ratio']:.2f}x ({b['images']} images, {b['workers']} workers)")


def main() -> None:
    """Build autofaiss's index for bench_index.py --data synth-clip ahead of the bench (its OPQ training
    can take longer than the rest of the run), saved as PREFIX.faiss + PREFIX.json for --autofaiss-prebuilt."""
    import argparse

    from synth_clip import synth_clip

    from eqvl.index import budget
    from eqvl.index.vectors import VectorStore

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--cache-dir", required=True)
    parser.add_argument("--clip-steps", type=int, default=60)
    parser.add_argument("--n", type=int, required=True)
    parser.add_argument("--memory", default=None, help="as bench_index.py's --memory (the same default)")
    parser.add_argument("--autofaiss-opq-niter", type=int, default=None)
    parser.add_argument("--out", required=True, help="PREFIX")
    args = parser.parse_args()
    vec_dir, stems, dim, *_ = synth_clip(Path(args.cache_dir), args.n, train_steps=args.clip_steps)
    matrix = np.concatenate([rows for _, rows in VectorStore(vec_dir, stems, dim).chunks()])
    memory = budget.parse_memory(args.memory) if args.memory else (
        (dim + 64) * args.n + budget.estimate_bytes(f"IVF{ann.ivf_lists(args.n, 2.0)},SQ8", 0, dim))
    index, infos, build_s = build_autofaiss(matrix, memory, args.autofaiss_opq_niter)
    import faiss

    faiss.write_index(index, args.out + ".faiss")
    Path(args.out + ".json").write_text(json.dumps({"infos": {**infos, "memory": memory}, "build_s": build_s,
                                                    "load": os.getloadavg()}, indent=2, default=str) + "\n")
    print(f"autofaiss {infos['index_key']} {infos['index_param']} built in {build_s:.0f} s -> {args.out}.faiss")


if __name__ == "__main__":
    main()
