"""Do eval numbers change between two revisions? Run every benchmark of the test suite through
`evaluate` under REV (a temporary `git worktree`) and under this working tree, and diff.

    .venv/bin/python scripts/compare_eval.py 45c28ee          # REV vs the working tree
    .venv/bin/python scripts/compare_eval.py HEAD~3 --keep    # keep the worktree and JSON files
    .venv/bin/python scripts/compare_eval.py 8a4578b --against b354384   # two commits (the layout commit and its parent)

The benchmark files come from the test suite's own fixture builders (tests/test_bench_*.py),
built once, with every image they name drawn deterministically; both sides evaluate the
same files with the same random-init tiny model (eqvl-tiny-rn, seed 0, one torch thread).
Metrics, subsets, item counts, encoding counts and every per-item score are compared exactly;
the run's bookkeeping (config, version, provenance, truncated-caption counts) is left out.
Exit status: 0 identical, 1 some benchmark differs.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: results keys that describe the run rather than its numbers
BOOKKEEPING = ("config", "eqvl_version", "provenance", "truncated_captions")


def build_fixtures(root: Path) -> list[dict]:
    """One folder per benchmark, made by the tests' builders; returns [{benchmark, data, options}]."""
    sys.path.insert(0, str(ROOT))  # the repository root: tests.helpers.*
    from tests.helpers.bench import png, write_jsonl
    from tests.test_bench_aro import _aro
    from tests.test_bench_eqben import _per_subset
    from tests.test_bench_hardpos import _hp
    from tests.test_bench_own import _twins
    from tests.test_bench_retrieval import _karpathy
    from tests.test_bench_sugarcrepe import _sugar
    from tests.test_bench_valse import _valse
    from tests.test_bench_winoground import _wino

    def own(kind: str):
        def make(d: Path) -> None:
            png(d / "a.png")
            png(d / "b.png", (0, 0, 255))
            if kind == "triplets":
                rows = [{"id": k, "subset": "swap" if k % 2 else "replace", "image": "ab"[k % 2] + ".png",
                         "caption": f"a red cube {k}", "positive": f"a cube that is red {k}", "negative": f"a blue cube {k}"}
                        for k in range(4)]
            else:
                rows = [{"id": f"f{k}", "subset": "count" if k % 2 else "rel", "image": "ab"[k % 2] + ".png",
                         "caption": f"{k} cats", "foil": f"{k + 1} cats"} for k in range(4)]
            write_jsonl(d / f"{kind}.jsonl", rows)
        return make

    specs = [
        ("aro", _aro, {"min_pair_count": "2"}), ("eqben", _per_subset, {}), ("hardpos", _hp, {}),
        ("twins", _twins, {}), ("retrieval", _karpathy, {}), ("sugarcrepe", _sugar, {}),
        ("valse", _valse, {"image_dirs": "SWiG={d}/swig,visual7w={d}/v7w"}), ("winoground", _wino, {}),
        ("triplets", own("triplets"), {}), ("foils", own("foils"), {}),
    ]
    manifest = []
    for name, make, options in specs:
        folder = root / name
        folder.mkdir(parents=True)
        make(folder)
        manifest.append({"benchmark": name, "data": str(folder),
                         "options": {k: v.format(d=folder) for k, v in options.items()}})
    return manifest


def draw_missing_images(manifest: list[dict], root: Path) -> None:
    """Every image a reader names under `root` exists afterwards, its pixels a function of its path."""
    import numpy as np
    from PIL import Image

    from eqvl.benchmarks import get_benchmark

    for spec in manifest:
        data = get_benchmark(spec["benchmark"]).load(Path(spec["data"]), **spec["options"])
        refs = [r for it in data.items for r in it.images] + list(data.meta.get("images", []))
        for ref in refs:
            path = Path(ref.path)
            if path.exists() or root not in path.parents:
                continue
            seed = int(hashlib.sha256(str(path.relative_to(root)).encode()).hexdigest()[:8], 16)
            pixels = np.random.default_rng(seed).integers(0, 256, size=(64, 64, 3), dtype=np.uint8)
            path.parent.mkdir(parents=True, exist_ok=True)
            if path.suffix == ".npy":
                np.save(path, pixels)
            else:
                Image.fromarray(pixels).save(path, format="JPEG" if path.suffix in (".jpg", ".jpeg") else "PNG")


def run_side(manifest_path: Path, out_path: Path) -> None:
    """Child process: evaluate every benchmark with whichever eqvl is first on PYTHONPATH."""
    import torch

    try:
        from eqvl.evaluation import evaluate
    except ImportError:  # revisions before the evaluation package
        from eqvl.evaluate import evaluate
    from eqvl.models import load_encoder

    torch.set_num_threads(1)
    encoder = load_encoder("eqvl-tiny-rn", "none", device="cpu", seed=0)
    out = {}
    for spec in json.loads(manifest_path.read_text()):
        res = evaluate(encoder, spec["benchmark"], spec["data"], options=spec["options"], progress=False, workers=0)
        keep = {k: v for k, v in res.results.items() if k not in BOOKKEEPING}
        keep["scores"] = [s.tolist() for s in res.scores]
        out[spec["benchmark"]] = keep
    out_path.write_text(json.dumps(out, indent=1, sort_keys=True, default=str))


def diff(a, b, where: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        found = []
        for key in sorted(set(a) | set(b), key=str):
            if key not in a or key not in b:
                found.append(f"{where}/{key}: only in {'REV' if key in a else 'the other side'}")
            else:
                found += diff(a[key], b[key], f"{where}/{key}")
        return found
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for k, (x, y) in enumerate(zip(a, b)) for d in diff(x, y, f"{where}[{k}]")]
    return [] if a == b else [f"{where}: {json.dumps(a)[:80]} -> {json.dumps(b)[:80]}"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("rev", nargs="?", help="git revision to compare the working tree with")
    ap.add_argument("--against", default=None, help="a second revision instead of the working tree")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder (worktree, data, JSON)")
    ap.add_argument("--run-side", nargs=2, metavar=("MANIFEST", "OUT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.run_side:
        run_side(Path(args.run_side[0]), Path(args.run_side[1]))
        return 0
    if not args.rev:
        ap.error("give a revision")
    tmp = Path(tempfile.mkdtemp(prefix="compare_eval."))
    worktree, other = tmp / "rev", tmp / "against"
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(worktree), args.rev], check=True)
    if args.against:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(other), args.against], check=True)
    other_name = args.against or "working tree"
    try:
        manifest = build_fixtures(tmp / "data")
        draw_missing_images(manifest, tmp / "data")
        (tmp / "manifest.json").write_text(json.dumps(manifest))
        sides = {"REV": worktree / "src", "working tree": (other if args.against else ROOT) / "src"}
        results = {}
        for label, src in sides.items():
            out = tmp / f"{label.replace(' ', '_')}.json"
            env = {**os.environ, "PYTHONPATH": str(src), "EQVL_CACHE_DIR": str(tmp / "unused-cache")}
            subprocess.run([sys.executable, __file__, "--run-side", str(tmp / "manifest.json"), str(out)],
                           check=True, env=env, cwd=tmp)
            results[label] = json.loads(out.read_text())
        differs = 0
        for spec in manifest:
            name = spec["benchmark"]
            found = diff(results["REV"].get(name), results["working tree"].get(name))
            n = len(results["working tree"].get(name, {}).get("scores", []))
            print(f"{name:12s} {'identical' if not found else f'{len(found)} differences'} ({n} scored items)")
            for line in found[:10]:
                print(f"    {line}")
            differs += bool(found)
        print(f"{args.rev} vs {other_name}: {len(manifest) - differs} of {len(manifest)} benchmarks identical")
        return 1 if differs else 0
    finally:
        if not args.keep:
            for tree in (worktree, other):
                if tree.exists():
                    subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)], check=False)
            subprocess.run(["rm", "-rf", str(tmp)], check=False)
        else:
            print(f"kept {tmp}")


if __name__ == "__main__":
    sys.exit(main())
