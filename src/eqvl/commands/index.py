"""`eqvl index build|add|remove|rebuild|info|search|serve`: image-text search over a collection.

    eqvl index build  --model M --pretrained P --images photos.csv --out idx/
    eqvl index build  --model M --pretrained P --embeddings clip_out/ --out idx/   (clip-retrieval's img_emb/ + metadata/)
    eqvl index build  ... --memory 2GB --target-recall 0.95 [--on-disk]
    eqvl index rebuild idx/                     (after the collection grew: retrain, swap in a new generation)
    torchrun --nproc-per-node 8 -m eqvl index build ... --out idx/
    eqvl index add    idx/ --images new.csv
    eqvl index remove idx/ --paths gone.txt
    eqvl index info   idx/
    eqvl index search idx/ --text "a red car left of a bus" -k 10 [--where subset=location] [--json]
    eqvl index serve  idx/ --port 8000
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from eqvl.commands.index_scale import (build_from_embeddings, index_plan, load_model, plan_flags, plan_rows,
                                      rebuild_parser)
from eqvl.commands.common import (add_device_flag, add_output_flag, add_progress_flag, nonneg_int, port, positive_float,
                                   positive_int)
from eqvl.errors import EqvlError

API_KEY_ENV = "EQVL_INDEX_API_KEY"


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("index", help="build, update and search an image index (FAISS + SQLite), serve it over HTTP",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="index_command", metavar="ACTION")
    _build_parser(sub)
    _add_parser(sub)
    q = sub.add_parser("remove", help="remove images (by path) from an index: rows and stored vectors are deleted")
    q.add_argument("index", help="index folder")
    q.add_argument("--paths", required=True, help="text file, one image path per line (relative to its folder)")
    q.add_argument("--ignore-missing", action="store_true", help="remove the listed paths that are indexed, skip the rest")
    q.add_argument("--no-purge", action="store_true",
                   help="only mask the removed ids in FAISS (faster on huge indexes); their vectors stay on disk "
                        "until a later purging remove")
    _wait_flag(q)
    q.set_defaults(func=run_remove)
    rebuild_parser(sub, _print_report)
    q = sub.add_parser("info", help="count, dimension, model, index type, memory, recall estimate, growth advice")
    q.add_argument("index", help="index folder")
    q.add_argument("--recall-queries", type=nonneg_int, default=100, help="queries for the recall@10 estimate (0: skip)")
    q.add_argument("--json", action="store_true", help="print JSON")
    q.set_defaults(func=run_info)
    _search_parser(sub)
    _serve_parser(sub)


def _input_flags(q: argparse.ArgumentParser, images_required: bool = True) -> None:
    q.add_argument("--images", required=images_required, help="open_clip CSV (tab-separated filepath[, title, extra "
                   "columns]), JSONL, or a folder of images")
    q.add_argument("--csv-img-key", default="filepath", help="image path column")
    q.add_argument("--csv-caption-key", default="title", help="caption column")
    q.add_argument("--csv-separator", default="\t", help="CSV separator (open_clip: tab)")
    q.add_argument("--skip-bad", action="store_true", help="skip (and count) missing/unreadable images instead of failing (listed in the manifest)")
    q.add_argument("--batch-size", type=positive_int, default=64, help="images per encoder call")
    q.add_argument("--workers", type=nonneg_int, default=min(4, os.cpu_count() or 1),
                   help="processes decoding images, 0 = in this process (default: the CPU count, at most 4)")
    add_device_flag(q)
    q.add_argument("--cache-dir", default=None, help="embedding cache to reuse across runs (default: one inside the "
                   "index folder, kept only until the run commits)")
    add_progress_flag(q, help="hide the progress bar")
    q.add_argument("--json", action="store_true", help="print the report as JSON")


def _build_parser(sub) -> None:
    q = sub.add_parser("build", help="embed images and build a new index (torchrun: sharded over ranks)")
    q.add_argument("--model", required=True, help="open_clip name, shipped config (eqvl-tiny-rn), config JSON, hf:DIR")
    q.add_argument("--pretrained", default=None,
                   help="open_clip tag, checkpoint file, or none (random weights, on purpose); required unless the "
                        "model spec carries its weights")
    add_output_flag(q, dest="out", required=True, metavar="DIR", help="index folder to create")
    q.add_argument("--index", default="auto",
                   help="auto (size rule: flat up to 100k vectors, ivf (IVF-SQ8) up to 5M, ivfpq beyond), flat, ivf, "
                        "hnsw, ivfpq, or a FAISS factory string")
    q.add_argument("--precision", default="amp",
                   help="open_clip's names: amp (float16 autocast on CUDA, float32 on CPU; the vectors are stored as "
                        "float16 anyway), fp32, bf16 ... (stored; queries use the same)")
    q.add_argument("--seed", type=nonneg_int, default=0, help="seed of a random init (--pretrained none)")
    q.add_argument("--overwrite", action="store_true", help="replace an existing index at --out")
    q.add_argument("--embeddings", default=None, metavar="PATH",
                   help="index embeddings made elsewhere instead of --images: clip-retrieval's output folder "
                        "(img_emb/*.npy + metadata/*.parquet [+ text_emb/]), a folder of .npy files or one .npy; "
                        "--model/--pretrained name the model that made them (checked at query time)")
    q.add_argument("--metadata", default=None, metavar="PATH",
                   help="with --embeddings: parquet or CSV file(s), one row per embedding (image_path / filepath, "
                        "caption / title, extra columns); default: the folder's metadata/")
    plan_flags(q)
    _input_flags(q, images_required=False)
    q.set_defaults(func=run_build)


def _wait_flag(q: argparse.ArgumentParser) -> None:
    q.add_argument("--wait", type=nonneg_int, default=0, metavar="SECONDS",
                   help="wait up to SECONDS for another writer to finish (default: refuse at once)")


def _add_parser(sub) -> None:
    q = sub.add_parser("add", help="add images; content already indexed is not embedded again")
    q.add_argument("index", help="index folder")
    q.add_argument("--keep-metadata", action="store_true",
                   help="leave the caption / columns of already-indexed paths as they are (default: replace them "
                        "with the listed ones)")
    _wait_flag(q)
    _input_flags(q)
    q.set_defaults(func=run_add)


def _rerank_flags(q: argparse.ArgumentParser) -> None:
    q.add_argument("--rerank-model", default=None, help="second-stage model re-scoring the top --rerank-k hits")
    q.add_argument("--rerank-pretrained", default=None, help="its pretrained tag / checkpoint / none")
    q.add_argument("--rerank-k", type=positive_int, default=100, help="first-stage hits handed to the re-ranker")


def _search_parser(sub) -> None:
    q = sub.add_parser("search", help="query an index by text or image")
    q.add_argument("index", help="index folder")
    what = q.add_mutually_exclusive_group(required=True)
    what.add_argument("--text", help="query text")
    what.add_argument("--image", help="query image file")
    q.add_argument("-k", type=positive_int, default=10, help="hits to return")
    q.add_argument("--where", action="append", default=[], metavar="KEY=VALUE",
                   help="metadata filter applied before the top-k cut (repeatable; same key twice = either value)")
    q.add_argument("--model", default=None, help="query model (default: the index's; another one is refused)")
    q.add_argument("--pretrained", default=None, help="with --model")
    q.add_argument("--precision", default=None, help="query precision with --model (default: the index's)")
    add_device_flag(q)
    q.add_argument("--json", action="store_true", help="print JSON")
    _rerank_flags(q)
    q.set_defaults(func=run_search)


def _serve_parser(sub) -> None:
    q = sub.add_parser("serve", help="JSON API + a search page over HTTP (FastAPI + uvicorn)")
    q.add_argument("index", help="index folder")
    q.add_argument("--host", default="127.0.0.1", help="interface to listen on (default: loopback only)")
    q.add_argument("--port", type=port, default=8000, help="TCP port")
    q.add_argument("--max-k", type=positive_int, default=100, help="largest k a request may ask for")
    q.add_argument("--max-upload-mb", type=positive_float, default=10.0, help="largest query image upload")
    q.add_argument("--max-megapixels", type=positive_float, default=16.0,
                   help="largest decoded query image (checked before decoding: a small file can hold a huge image)")
    q.add_argument("--max-uploads", type=positive_int, default=8,
                   help="uploads received at once (503 beyond): bounds their memory to this x --max-upload-mb")
    q.add_argument("--allow-host", action="append", default=[], metavar="NAME",
                   help="a host name clients may use (Host header) besides IP addresses, localhost and --host; "
                        "repeatable (the name behind a reverse proxy)")
    q.add_argument("--api-key", default=None,
                   help=f"require this key on every request (default: ${API_KEY_ENV}); required to listen on a "
                        "non-loopback address")
    q.add_argument("--allow-remote", action="store_true",
                   help="listen on a non-loopback address WITHOUT an API key (anyone who reaches the port can search)")
    add_device_flag(q)
    _rerank_flags(q)
    q.set_defaults(func=run_serve)


# ---------------------------------------------------------------- actions


def _options(args: argparse.Namespace, identity_source: Any = None):
    from eqvl.index import EmbedOptions

    cache = None
    if args.cache_dir and identity_source is not None:
        from eqvl.encode import EmbeddingCache

        cache = EmbeddingCache(args.cache_dir, identity_source.identity())
    return EmbedOptions(batch_size=args.batch_size, workers=args.workers, skip_bad=args.skip_bad,
                        progress=not args.no_progress, cache=cache)


def _fmt(args: argparse.Namespace):
    from eqvl.index import SourceFormat

    return SourceFormat(args.csv_img_key, args.csv_caption_key, args.csv_separator)


def _print_report(report, as_json: bool) -> None:
    if report is None:  # a torchrun rank other than 0
        return
    if as_json:
        print(json.dumps(report.to_dict(), indent=2))
        return
    rows = [("operation", report.op), ("images in index", report.count), ("added", report.added),
            ("already indexed (same content)", report.already_indexed), ("duplicates in input", report.duplicates),
            ("known content, new path (vector copied)", report.copies), ("metadata updated", report.updated),
            ("removed", report.removed), ("skipped bad images", len(report.bad)), ("index", report.index),
            ("generation", report.generation), ("seconds", f"{report.seconds:.1f}")]
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")
    for bad in report.bad[:10]:
        print(f"  skipped {bad['where']}: {bad['error']}", file=sys.stderr)


def run_build(args: argparse.Namespace) -> int:
    from eqvl.index import Index, read_items
    from eqvl.distributed import collectives, shutdown
    from eqvl.index.writer import Ranks, RanksError

    if (args.images is None) == (args.embeddings is None):
        raise EqvlError("give either --images (images to embed) or --embeddings (vectors made elsewhere)")
    if args.metadata and not args.embeddings:
        raise EqvlError("--metadata goes with --embeddings")
    index_plan(args, args.index)  # a bad --memory / --target-recall fails before anything is read
    if args.embeddings:
        return build_from_embeddings(args, _fmt(args), _print_report)
    items = read_items(args.images, _fmt(args))  # a bad listing fails before the model is built
    ranks = Ranks(**collectives(args.device))
    try:
        encoder = None
        if args.cache_dir or args.target_recall is not None:  # the model is needed here: build it once
            encoder = load_model(args)
        queries = None
        if args.target_recall is not None and encoder is not None:  # built just above
            from eqvl.index.tuning import text_queries

            queries = text_queries(encoder, [it.caption for it in items])
        report = Index.build(args.out, items, args.model, args.pretrained, index=index_plan(args, args.index, queries),
                             overwrite=args.overwrite, device=args.device, precision=args.precision, seed=args.seed,
                             options=_options(args, encoder), ranks=ranks, encoder=encoder)
    except RanksError as exc:
        return _agreed_failure(ranks, exc)
    finally:
        shutdown()
    _print_report(report, args.json)
    return 0


def _agreed_failure(ranks, exc: Exception) -> int:
    """Every rank raised the same error: rank 0 prints it, then all ranks leave together after a
    barrier (a rank that left first would have the launcher kill rank 0 before it spoke)."""
    from eqvl.commands.common import flag_message

    if ranks.rank == 0:
        print(f"eqvl index: error: {flag_message(exc)}", file=sys.stderr, flush=True)
    try:
        ranks.barrier()
    except Exception:  # noqa: BLE001 - a broken process group: the error is printed already
        pass
    return 2


def run_add(args: argparse.Namespace) -> int:
    from eqvl.index import Index, read_items
    from eqvl.distributed import collectives, shutdown
    from eqvl.index.writer import Ranks
    from eqvl.index.store import writer_lock
    from eqvl.index.writer import RanksError

    items = read_items(args.images, _fmt(args))
    if int(os.environ.get("RANK", "0")) == 0:
        with writer_lock(args.index, wait=args.wait):  # a busy index is refused before the model loads
            pass
    idx = Index.open(args.index, device=args.device)
    ranks = Ranks(**collectives(args.device))
    try:
        report = idx.add(items, options=_options(args, idx.encoder), ranks=ranks, update=not args.keep_metadata,
                         wait=args.wait)
    except RanksError as exc:
        return _agreed_failure(ranks, exc)
    finally:
        shutdown()
    _print_report(report, args.json)
    return 0


def run_remove(args: argparse.Namespace) -> int:
    from eqvl.index import Index
    from eqvl.index.sources import read_path_list

    paths = read_path_list(args.paths)
    with Index.open(args.index) as idx:
        report = idx.remove(paths, ignore_missing=args.ignore_missing, purge=not args.no_purge, wait=args.wait)
    _print_report(report, False)
    return 0


def run_info(args: argparse.Namespace) -> int:
    from eqvl.index import Index
    from eqvl.index.core import describe_model

    from eqvl.index.ondisk import lists_bytes
    from eqvl.index.rebuild import growth_advice

    idx = Index.open(args.index)
    info = idx.info(recall_queries=max(0, args.recall_queries))
    info["memory"]["on_disk_lists_bytes"] = lists_bytes(idx.generation)
    info["growth"] = growth_advice(idx.manifest)
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    mem = info["memory"]
    rows = [("index", info["path"]), ("images", info["count"]), ("dimension", info["dim"]),
            ("model", describe_model(info["model"])), ("index type", f"{info['index']['kind']} ({info['index']['factory']})"),
            ("search params", info["index"]["params"] or "-"), ("FAISS index in RAM", _bytes(mem["faiss_index_bytes"])),
            ("bytes per vector (index)", mem["index_bytes_per_vector"]),
            ("stored vectors (float16, mmap)", _bytes(mem["vectors_bytes_on_disk_mmap"])),
            ("metadata (SQLite)", _bytes(mem["metadata_bytes"])), ("columns", ", ".join(info["columns"])),
            ("rows: live / stored vectors / in FAISS",
             f"{info['rows']['live']} / {info['rows']['stored_vectors']} / {info['rows']['faiss_vectors']}"),
            ("removed, masked", info["deleted_masked"]), ("skipped at build/add", info["skipped_at_build"]),
            ("recall@10 vs exact", f"{info['recall_at_10_vs_exact']:.3f} ({info['recall_queries']} queries)"),
            ("generation", info["generation"]), ("updated", info["updated"])] + plan_rows(info, _bytes)
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")
    return 0


def _bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{n} B"
        n /= 1024
    return str(n)


def _load_rerank(args: argparse.Namespace):
    if not args.rerank_model:
        if args.rerank_pretrained:
            raise EqvlError("--rerank-pretrained needs --rerank-model (the model those weights belong to)")
        return None
    from eqvl.models import load_encoder

    if args.rerank_k <= 0:
        raise EqvlError("--rerank-k must be > 0")
    return load_encoder(args.rerank_model, args.rerank_pretrained, device=args.device)


def run_search(args: argparse.Namespace) -> int:
    from eqvl.index import Index

    encoder = None
    if args.model:
        from eqvl.index import store
        from eqvl.models import load_encoder

        precision = args.precision or store.read_manifest(store.current_generation(args.index))["model"].get(
            "precision", "fp32")
        encoder = load_encoder(args.model, args.pretrained, device=args.device, precision=precision)
    elif args.precision or args.pretrained:
        raise EqvlError(f"--{'precision' if args.precision else 'pretrained'} needs --model (the index's own model is "
                        "loaded as it was built)")
    reranker = _load_rerank(args)
    idx = Index.open(args.index, encoder=encoder, device=args.device)
    texts = [args.text] if args.text is not None else None
    images = [args.image] if args.image is not None else None
    hits = idx.search(texts=texts, images=images, k=args.k, where=args.where, rerank_model=reranker,
                      rerank_k=args.rerank_k)[0]
    try:
        _print_hits(args, hits)
    except BrokenPipeError:  # `| head -1` closed the pipe: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


def _print_hits(args: argparse.Namespace, hits: list) -> None:
    if args.json:
        print(json.dumps({"query": args.text or args.image, "k": args.k, "hits": [h.to_dict() for h in hits]}, indent=2))
        return
    print(f"{'rank':>4}  {'id':>8}  {'score':>8}  {'stage':<24}  caption / path")
    for n, h in enumerate(hits, 1):
        print(f"{n:>4}  {h.id:>8}  {h.score:>8.4f}  {h.stage:<24}  {h.caption or '-'}  [{h.path}]")
    if not hits:
        print("(no hits: nothing matches the --where filter)")
    sys.stdout.flush()


def run_serve(args: argparse.Namespace) -> int:
    from eqvl.index import Index
    from eqvl.index.guard import Policy, allowed_hosts, check_exposure
    from eqvl.index.server import Limits, serve

    api_key = args.api_key or os.environ.get(API_KEY_ENV) or None
    warning = check_exposure(args.host, api_key, args.allow_remote)  # refused before the model is loaded
    if warning:
        print(warning, file=sys.stderr, flush=True)
    reranker = _load_rerank(args)
    idx = Index.open(args.index, device=args.device)
    limits = Limits(max_k=args.max_k, max_upload_bytes=int(args.max_upload_mb * 1024 * 1024),
                    max_image_pixels=int(args.max_megapixels * 1_000_000))
    policy = Policy(allowed_hosts=allowed_hosts(args.host, args.allow_host), api_key=api_key,
                    max_body=limits.max_upload_bytes + 64 * 1024, max_bodies=args.max_uploads)
    if args.rerank_model and args.rerank_k < args.max_k:
        print(f"note: requests with k over --rerank-k ({args.rerank_k}) cannot be re-ranked", file=sys.stderr)
    serve(idx, host=args.host, port=args.port, limits=limits, rerank_model=reranker, rerank_k=args.rerank_k,
          policy=policy, announce=lambda line: print(line, flush=True))
    return 0
