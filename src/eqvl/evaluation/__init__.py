"""Encoder x benchmark -> score arrays -> metrics -> results dict and score files.

`evaluate` runs one encoder on one benchmark (through `eqvl.encode`); `score_files` writes
and reads what a run leaves besides its results JSON.
"""

from __future__ import annotations

from eqvl.evaluation.items import ItemScores, UniqueInputs, collect_unique, embed_all, gather_scores, score_items
from eqvl.evaluation.score_files import (
    OfficialScores,
    check_scores_match,
    ScoreFile,
    has_official_layout,
    official_scores,
    read_score_file,
    scores_arrays,
    write_official_scores,
    write_score_file,
)
from eqvl.evaluation.run import SKIP_EXAMPLES, EvalResult, evaluate

__all__ = [
    "EvalResult", "ItemScores", "OfficialScores", "SKIP_EXAMPLES", "ScoreFile", "UniqueInputs", "check_scores_match",
    "collect_unique",
    "embed_all", "evaluate", "gather_scores", "has_official_layout", "official_scores", "read_score_file",
    "score_items", "scores_arrays", "write_official_scores", "write_score_file",
]
