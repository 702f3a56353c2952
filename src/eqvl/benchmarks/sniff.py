"""Which benchmark a folder looks like, so a reader pointed at another benchmark's files can say so.

Only names of files (and, for Hugging Face table copies, column names) are looked at: cheap,
and never a reason to fail by itself. The table lists each benchmark's tell-tale files as released.
"""

from __future__ import annotations

from pathlib import Path

from eqvl.errors import DataError

#: benchmark -> files (relative, glob patterns allowed) whose presence identifies its release
FILE_SIGNS: dict[str, tuple[str, ...]] = {
    "winoground": ("examples.jsonl", "data/examples.jsonl"),
    "sugarcrepe": ("add_att.json", "data/add_att.json", "add_obj.json"),
    "valse": ("existence.json", "foil-it.json", "data/existence.json"),
    "aro": ("visual_genome_relation.json", "visual_genome_attribution.json"),
    "eqben": ("eqbenag.json", "eqbensd.json", "private_info_global.json"),
    "retrieval": ("dataset_coco.json", "dataset_flickr30k.json", "flickr30k_test_karpathy.txt"),
    "spec": ("*/image2text.json",),
    "naturalbench": ("NaturalBench-Retrieval/metadata.json",),
    "cola": ("COLA_multiobjects_matching_benchmark.json", "data/COLA_multiobjects_matching_benchmark.json"),
    "colorswap": ("test.json", "data/test.json"),
    "vl-checklist": ("corpus/v1", "data/Attribute"),
    "whatsup": ("controlled_images_dataset.json", "controlled_clevr_dataset.json"),
    "mmvp-vlm": ("Questions.csv", "MMVP_VLM_Images", "MMVP VLM Images"),
}
#: benchmark -> columns that identify it in a parquet / Arrow copy
COLUMN_SIGNS: dict[str, frozenset[str]] = {
    "bivlc": frozenset({"negative_caption", "negative_image"}),
    "vismin": frozenset({"text_0", "text_1", "image_0", "image_1", "category"}),
    "colorswap": frozenset({"caption_1", "caption_2", "image_1", "image_2"}),
    "winoground": frozenset({"caption_0", "caption_1", "collapsed_tag"}),
    "naturalbench": frozenset({"Question_0", "Image_0", "Question_Type"}),
}


def looks_like(folder: str | Path) -> str | None:
    """The benchmark whose released files `folder` holds, or None."""
    folder = Path(folder)
    if not folder.exists():
        return None
    if folder.is_dir():
        if (folder / "metadata.json").is_file() and (folder / "images").is_dir():
            return "naturalbench"
        for bench, signs in FILE_SIGNS.items():
            if any(next(iter(folder.glob(sign)), None) is not None for sign in signs):
                return bench
    return _by_columns(folder)


def _by_columns(folder: Path) -> str | None:
    from eqvl.benchmarks import hf_tables

    try:
        if not hf_tables.is_table_copy(folder):
            return None
        files = hf_tables.table_files(folder, None)
        names = set(hf_tables.column_names(files[0])) if files else set()
    except Exception:  # a hint only: an unreadable table is the reader's error to report
        return None
    return next((bench for bench, cols in COLUMN_SIGNS.items() if cols <= names), None)


def wrong_layout(bench: str, data_dir: str | Path, layout: str) -> DataError:
    """`layout_error` plus, when the folder holds another benchmark's files, which one."""
    other = looks_like(data_dir)
    hint = f"\n  (this looks like a {other} folder: try --benchmark {other})" if other and other != bench else ""
    return DataError(f"not a {bench} folder; expected:\n{layout}{hint}", path=str(data_dir))
