"""Pure numpy metrics on score arrays. No model, no I/O.

Conventions: `s[c, i]` is the score of caption c against image i. Comparisons are
strict (`>`): a tie counts as wrong, as in the official Winoground / EqBen / SugarCrepe
definitions, so a constant scorer gets 0, never 50%.
"""

from __future__ import annotations

import numpy as np


def winoground_scores(s: np.ndarray) -> dict[str, np.ndarray]:
    """Per-twin text / image / group correctness for scores shaped [N, 2 captions, 2 images].

    text:  s(c0,i0) > s(c1,i0) and s(c1,i1) > s(c0,i1)
    image: s(c0,i0) > s(c0,i1) and s(c1,i1) > s(c1,i0)
    """
    s = _check(s, (2, 2))
    text = (s[:, 0, 0] > s[:, 1, 0]) & (s[:, 1, 1] > s[:, 0, 1])
    image = (s[:, 0, 0] > s[:, 0, 1]) & (s[:, 1, 1] > s[:, 1, 0])
    return {"text": text, "image": image, "group": text & image}


def equivariance_scores(s: np.ndarray) -> dict[str, np.ndarray]:
    """EqSim's per-twin equivariance gaps (0 = perfectly equivariant) for [N, 2, 2] scores.

    With s_ij = s(image_i, text_j): text side |(s11 - s12) - (s22 - s21)|,
    image side |(s11 - s21) - (s22 - s12)|. In our [caption, image] layout
    s_ij = s[:, j, i].
    """
    s = _check(s, (2, 2))
    s11, s22 = s[:, 0, 0], s[:, 1, 1]
    s12, s21 = s[:, 1, 0], s[:, 0, 1]  # s12 = s(I1, T2); s21 = s(I2, T1)
    return {"text": np.abs((s11 - s12) - (s22 - s21)), "image": np.abs((s11 - s21) - (s22 - s12))}


def pairwise_accuracy(s: np.ndarray) -> np.ndarray:
    """Per-item correctness for [N, 2 captions(true, false), 1 image]: s(true) > s(false)."""
    s = _check(s, (2, 1))
    return s[:, 0, 0] > s[:, 1, 0]


def ranking_correct(s: np.ndarray) -> np.ndarray:
    """[N, K captions, 1 image], caption 0 true: correct iff it strictly beats every other."""
    if s.ndim != 3 or s.shape[2] != 1 or s.shape[1] < 2:
        raise ValueError(f"expected scores [N, K>=2, 1], got {s.shape}")
    return s[:, 0, 0] > s[:, 1:, 0].max(axis=1)


def hardpos_scores(s: np.ndarray) -> dict[str, np.ndarray]:
    """Hard-positive evaluation on [N, 3 captions (c, c_p, c_n), 1 image].

    orig: s(c) > s(c_n); aug: s(c_p) > s(c_n); joint: c_n below both;
    brittle: s(c) > s(c_n) > s(c_p) (the model prefers the negative to the rewrite).
    """
    s = _check(s, (3, 1))
    c, cp, cn = s[:, 0, 0], s[:, 1, 0], s[:, 2, 0]
    orig, aug = c > cn, cp > cn
    return {"orig_acc": orig, "aug_acc": aug, "joint_acc": orig & aug, "brittle": orig & (cn > cp)}


def probability_scores(p_true: np.ndarray, p_foil: np.ndarray, threshold: float = 0.5) -> dict[str, float]:
    """VALSE's acc and min(pc, pf), meaningful only when scores are probabilities."""
    pc = float(np.mean(p_true > threshold))
    pf = float(np.mean(p_foil < threshold))
    return {"acc": (pc + pf) / 2.0, "pc": pc, "pf": pf, "min_pc_pf": min(pc, pf)}


def recall_at_k(ranks: np.ndarray, ks: tuple[int, ...] = (1, 5, 10)) -> dict[int, float]:
    """Recall@K from each query's rank of its best positive (0 = top)."""
    ranks = np.asarray(ranks)
    return {k: float(np.mean(ranks < k)) if ranks.size else float("nan") for k in ks}


def macro_accuracy(
    groups, correct: np.ndarray, exclude=frozenset(), min_count: int = 1
) -> tuple[float, dict[str, dict]]:
    """Mean of per-group accuracies (ARO's VG-Relation / VG-Attribution), skipping groups in
    `exclude` or with fewer than `min_count` items. Returns (macro, {group: {acc, n, counted}})."""
    correct = np.asarray(correct, dtype=bool)
    arr = np.asarray(list(groups), dtype=object)
    per: dict[str, dict] = {}
    for g in sorted(set(arr.tolist())):
        mask = arr == g
        n = int(mask.sum())
        per[g] = {"acc": float(correct[mask].mean()), "n": n, "counted": g not in exclude and n >= min_count}
    used = [v["acc"] for v in per.values() if v["counted"]]
    return (float(np.mean(used)) if used else float("nan")), per


def mean_of(flags: np.ndarray) -> float:
    flags = np.asarray(flags)
    return float(flags.mean()) if flags.size else float("nan")


def _check(s: np.ndarray, tail: tuple[int, int]) -> np.ndarray:
    s = np.asarray(s, dtype=np.float64)
    if s.ndim != 3 or s.shape[1:] != tail:
        raise ValueError(f"expected scores [N, {tail[0]}, {tail[1]}], got {s.shape}")
    return s
