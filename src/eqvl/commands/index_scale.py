"""`eqvl index` at scale: build from existing embeddings, budget / recall-target / on-disk plans,
`rebuild`, and the rows `info` adds about them (the flags and actions; the work is in eqvl.index)."""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING, Any, Callable

from eqvl.commands.common import positive_float
from eqvl.errors import EqvlError

if TYPE_CHECKING:
    from eqvl.models.base import Encoder


def plan_flags(q: argparse.ArgumentParser) -> None:
    q.add_argument("--memory", default=None, metavar="SIZE",
                   help="memory budget of the FAISS index (2GB, 500MB; K/M/G = powers of 1024): picks the best "
                        "index that fits instead of the size rule (autofaiss's max_index_memory_usage)")
    q.add_argument("--target-recall", type=positive_float, default=None, metavar="R",
                   help="tune nprobe / efSearch to reach recall@10 R against exact search on the collection's own "
                        "queries (caption embeddings when it has captions); measured recall goes into the manifest")
    q.add_argument("--on-disk", action="store_true",
                   help="IVF inverted lists in a file beside the index, memory-mapped at query time (past RAM)")


def rebuild_parser(sub, print_report: Callable) -> None:
    q = sub.add_parser("rebuild", help="retrain the FAISS index over the live vectors (size rule at today's count, "
                                       "or --index / --memory) and swap it in as a new generation; ids are kept")
    q.add_argument("index", help="index folder")
    q.add_argument("--index", dest="kind", default="auto", help="as for build (default: the size rule at today's count)")
    plan_flags(q)
    q.add_argument("--json", action="store_true", help="print the report as JSON")
    q.set_defaults(func=lambda args: run_rebuild(args, print_report))


def index_plan(args: argparse.Namespace, kind: str, queries: Any = None) -> Any:
    """The --index string, or a tuning.IndexPlan when --memory / --target-recall / --on-disk ask for one."""
    if args.memory is None and args.target_recall is None and not args.on_disk:
        return kind
    from eqvl.index.budget import parse_memory
    from eqvl.index.tuning import IndexPlan

    if args.memory is not None and kind != "auto":
        raise EqvlError(f"--memory picks the index itself; drop --index {kind} (or drop --memory)")
    if args.target_recall is not None and args.target_recall > 1:
        raise EqvlError(f"--target-recall is a recall in (0, 1], got {args.target_recall}")
    return IndexPlan(kind=kind, memory=parse_memory(args.memory) if args.memory else None,
                     target_recall=args.target_recall, on_disk=args.on_disk, queries=queries)


def load_model(args: argparse.Namespace) -> Encoder:
    """The index's model: a dual encoder (a pair scorer is refused with the line saying where it fits)."""
    from eqvl.encode.types import check_embeds
    from eqvl.models import load_encoder

    return check_embeds(load_encoder(args.model, args.pretrained, device=args.device, seed=args.seed,
                                     precision=args.precision))


def build_from_embeddings(args: argparse.Namespace, fmt: Any, print_report: Callable) -> int:
    from eqvl.index.core import model_info
    from eqvl.index.embeddings_input import build_index, read_embedding_input
    from eqvl.index.tuning import given_queries, text_queries

    inp = read_embedding_input(args.embeddings, args.metadata, fmt)  # checked before the model is built
    if args.pretrained and os.path.exists(args.pretrained):
        args.pretrained = os.path.abspath(args.pretrained)  # the index must find its model from any folder
    encoder = load_model(args)
    info = model_info(encoder, args.model, args.pretrained, args.precision, args.seed)
    queries = None
    if args.target_recall is not None:
        queries = (given_queries(inp.text_emb, "the input's text_emb (caption embeddings)")
                   if inp.text_emb is not None else text_queries(encoder, [it.caption for it in inp.items]))
    report = build_index(args.out, inp, encoder, info, index_plan(args, args.index, queries), args.overwrite)
    print_report(report, args.json)
    return 0


def run_rebuild(args: argparse.Namespace, print_report: Callable) -> int:
    from eqvl.index import Index
    from eqvl.index.rebuild import captions, rebuild

    queries = None
    if args.target_recall is not None:
        from eqvl.index.tuning import text_queries

        idx = Index.open(args.index)
        queries = text_queries(idx.encoder, captions(idx.generation))
    report = rebuild(args.index, index_plan(args, args.kind, queries))
    print_report(report, args.json)
    return 0


def plan_rows(info: dict[str, Any], _bytes: Callable[[int], str]) -> list[tuple[str, Any]]:
    """info's rows about how the index was chosen and tuned, on-disk lists, and growth advice."""
    spec, rows = info["index"], []
    if spec.get("chosen_by"):
        rows.append(("chosen by", f"{spec['chosen_by']} at {spec.get('trained_on', '?'):,} vectors"))
    if spec.get("budget"):
        b = spec["budget"]
        rows.append(("memory budget", f"{_bytes(b['memory_bytes'])} (index estimated {_bytes(b['estimated_bytes'])})"))
    t = spec.get("tuning")
    if t:
        verdict = "reached" if t["reached"] else "NOT reached (best setting kept)"
        rows.append((f"tuned recall@{t['k']}", f"{t['recall']:.3f} vs target {t['target_recall']}: {verdict}, on "
                     f"{t['queries']} {t['query_kind']}, {t['qps_single']} q/s single query"))
    if info["memory"].get("on_disk_lists_bytes"):
        rows.append(("inverted lists on disk (mmap)", _bytes(info["memory"]["on_disk_lists_bytes"])))
    rows += [("note", line) for line in info["growth"]]
    return rows
