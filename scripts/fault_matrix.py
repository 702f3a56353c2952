"""Print issue 12's fault matrix (class | cases tried | handled | how) from a real test run.

Runs `pytest -m faults` (every test file; fault tests are named `test_<class>__<case>`), reads
the JUnit XML it writes and counts, per class, the cases tried and the cases that passed
(= handled as the test asserts). Classes without a description below are listed with "see tests".

    .venv/bin/python scripts/fault_matrix.py            # runs the tests, prints a markdown table
    .venv/bin/python scripts/fault_matrix.py -- -k disk  # extra pytest arguments after --
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: class -> (issue 12 item, how it is handled)
HOW = {
    "nonfinite": ("12.1", "training stops at the first non-finite loss/gradient, names step and term; no NaN checkpoint"),
    "flags": ("12.2", "numeric flags range-checked at parse time, one line"),
    "lock": ("12.3", "eqvl.io.OutputLock (flock + pid/host/start/command file; stale lock of a dead run taken over "
                     "with a warning); check_outputs checks every output before any write"),
    "cache": ("12.4", "unreadable cache shard is a warning, items re-encoded; a failed cache write does not fail the run"),
    "image_decode": ("12.5", "eqvl.data.images.decode_rgb for train and eval: 16-bit high byte, EXIF transpose, alpha "
                             "dropped (= open_clip convert('RGB')), CMYK/palette by Pillow, float/out-of-range refused; "
                             "each against a numpy reference"),
    "encoding": ("12.6", "eqvl.io.text_lines/read_text: BOM accepted; non-UTF-8 named by file, line, byte offset; "
                         "skipped and counted with augment --skip-bad"),
    "disk_full": ("12.7", "atomic_open: ENOSPC/EDQUOT/EFBIG -> one StorageFullError naming path and bytes needed "
                          "(also under torch.save/numpy), temp file removed; real RLIMIT_FSIZE in subprocesses"),
    "one_line": ("12.8", "synth --out on a file, decompression bombs (train and eval) -> one line naming the file"),
    "resume": ("12.9", "a killed run resumes where it stopped (synth: a folder holding only its lock or a cut state "
                       "write restarts; train's checkpoint fallback where its fault tests carry this name)"),
    "existing_columns": ("12.10", "augment refuses existing hard_negatives/positives unless --existing merge|replace "
                                  "(reported with counts; malformed values named by line)"),
    "skipped_steps": ("26.3", "a step skipped by --skip-nonfinite restores the BatchNorm statistics its forward moved; "
                              "the summary counts skipped steps; a model whose eval-mode scores on 4 training pairs "
                              "are non-finite is not saved and the run exits 2"),
    "cache_shard": ("26.5", "a cache shard that is valid npz but has the wrong dimension, keys/values of different "
                            "lengths or NaN rows is named as the cache and re-encoded, never blamed on the model"),
    "directory_output": ("26.5", "an --output that is a directory where a file is meant is one line, nothing written"),
    "long_captions": ("26.4", "rewrites identical to the caption inside the tokenizer's context are dropped (train) "
                              "or counted and named (augment)"),
    "skip_bad": ("26.7", "train: an undecodable image is skipped and counted before the first step with --check-images, "
                         "or named in one line with --no-skip-bad; a missing-image row under --no-skip-bad is one line"),
    "aug_cfg": ("26.12", "train --aug-cfg: an unknown key, a malformed value, color_jitter_prob without a 4-value "
                         "color_jitter, or --no-train-augment with it is one line at parse time"),
    "use_bn_sync": ("26.12", "train --use-bn-sync with CPU processes under torchrun is one line before the model is "
                             "built (torch's SyncBatchNorm syncs GPU processes only)"),
    "outside_root": ("12.11", "eqvl.data.paths.resolve_data_path: outside-root paths refused unless "
                              "--allow-outside-root, then counted in the summary"),
}


def run_tests(extra: list[str]) -> Path:
    xml = Path(tempfile.mkdtemp(prefix="eqvl-faults-")) / "faults.xml"
    cmd = [sys.executable, "-m", "pytest", "-m", "faults", "-q", "-p", "no:cacheprovider", f"--junitxml={xml}", *extra]
    print("$", " ".join(cmd[1:]), file=sys.stderr, flush=True)
    subprocess.run(cmd, cwd=ROOT, check=False)
    return xml


def matrix(xml: Path) -> list[tuple[str, str, int, int, str]]:
    tried: dict[str, int] = defaultdict(int)
    handled: dict[str, int] = defaultdict(int)
    for case in ET.parse(xml).getroot().iter("testcase"):
        name = case.get("name", "")
        if not name.startswith("test_") or "__" not in name:
            continue
        cls = name[len("test_"):].split("__", 1)[0]
        if any(child.tag == "skipped" for child in case):
            continue
        tried[cls] += 1
        handled[cls] += not any(child.tag in ("failure", "error") for child in case)
    order = sorted(tried, key=lambda c: (HOW.get(c, ("99", ""))[0].split(".")[-1].zfill(3), c))
    return [(HOW.get(c, ("?", ""))[0], c, tried[c], handled[c], HOW.get(c, ("", "see tests"))[1]) for c in order]


def main(argv: list[str]) -> int:
    extra = argv[argv.index("--") + 1:] if "--" in argv else []
    rows = matrix(run_tests(extra))
    print("| item | class | cases tried | handled | how |")
    print("|---|---|---|---|---|")
    for item, cls, n, ok, how in rows:
        print(f"| {item} | {cls} | {n} | {ok} | {how} |")
    total, ok = sum(r[2] for r in rows), sum(r[3] for r in rows)
    print(f"\n{total} cases tried, {ok} handled")
    missing = sorted(set(HOW) - {r[1] for r in rows})
    if missing:
        print("classes with no fault test in this run: " + ", ".join(missing))
    return 0 if total == ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
