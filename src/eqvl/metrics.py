"""Pure metrics on score arrays and embeddings. No model, no I/O.

Conventions: `s[c, i]` is the score of caption c against image i. Pairwise comparisons
are strict (`>`): a tie counts as wrong, as in the official Winoground / EqBen / SugarCrepe
definitions, so a constant scorer gets 0, never 50%. Retrieval Recall@K follows
CLIP_benchmark's `zeroshot_retrieval` instead (top-k by `torch.topk`, see
`retrieval_recalls`), because that is the protocol behind the published numbers.
"""

from __future__ import annotations

from typing import Iterator, Sequence

import numpy as np
import torch


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


# ---------------------------------------------------------------- retrieval (full matrix, in chunks)
#
# COCO's 5k test images x 25k captions would be a 125M-entry similarity matrix; only a
# [chunk, other side] block exists at a time, so memory stays at chunk x max(N, M) floats.
# Each block holds exactly the values of CLIP_benchmark's `texts_emb @ images_emb.T` (text
# side on the left in both directions), so ties fall exactly where they fall there.

RETRIEVAL_TIES = ("topk", "strict")


def retrieval_recalls(image_emb, text_emb, text_to_image: Sequence[int], ks: tuple[int, ...] = (1, 5, 10),
                      chunk: int = 1024, strict: bool = False) -> dict[str, float | int]:
    """CLIP_benchmark's zeroshot_retrieval Recall@K, plus how many queries had ties.

    image_retrieval_recall@K (text -> image) and text_retrieval_recall@K (image -> text): a
    query is a hit when any of its positives is among the indices `torch.topk(scores, K)`
    returns on the CPU. A positive that ties with a negative therefore counts as torch's
    top-k happens to order the tie (by position inside the partial sort), as in the
    published numbers, not always as a miss. `*_ties`: how many queries' best positive
    scores exactly as some negative does (only there can the two countings differ).
    `strict=True` adds `*_recall@K_strict`, where such a tie always counts against the
    model (a positive's rank = the number of negatives scoring >= it).
    """
    img, txt = _as_tensor(image_emb), _as_tensor(text_emb)
    owner = torch.as_tensor(np.asarray(text_to_image, dtype=np.int64))
    out: dict[str, float | int] = {}
    passes = (("image_retrieval", _text_query_blocks(img, txt, owner, chunk)),
              ("text_retrieval", _image_query_blocks(img, txt, owner, max(1, chunk // 4))))
    for name, blocks in passes:
        hits, ranks, ties = _retrieval_pass(blocks, ks)
        out.update({f"{name}_recall@{k}": float(np.mean(h)) if h.size else float("nan") for k, h in hits.items()})
        out[f"{name}_ties"] = int(ties)
        if strict:
            out.update({f"{name}_recall@{k}_strict": v for k, v in recall_at_k(ranks, ks).items()})
    return out


def _as_tensor(x: "torch.Tensor | np.ndarray") -> torch.Tensor:
    t = x if isinstance(x, torch.Tensor) else torch.from_numpy(np.asarray(x))
    return t.detach().cpu().float()


def _text_query_blocks(img: torch.Tensor, txt: torch.Tensor, owner: torch.Tensor, chunk: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """(scores, positives) blocks, one row per caption query, one column per image."""
    for start in range(0, txt.shape[0], chunk):
        sims = txt[start : start + chunk] @ img.T
        is_pos = torch.zeros_like(sims, dtype=torch.bool)
        is_pos[torch.arange(sims.shape[0]), owner[start : start + chunk]] = True
        yield sims, is_pos


def _image_query_blocks(img: torch.Tensor, txt: torch.Tensor, owner: torch.Tensor, chunk: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """(scores, positives) blocks, one row per image query, one column per caption."""
    for start in range(0, img.shape[0], chunk):
        sims = (txt @ img[start : start + chunk].T).T
        rows = torch.arange(start, start + sims.shape[0])
        yield sims, owner[None, :] == rows[:, None]


def _retrieval_pass(blocks: Iterator[tuple[torch.Tensor, torch.Tensor]], ks: tuple[int, ...]) -> tuple[dict[int, np.ndarray], np.ndarray, int]:
    """Per-query top-k hits for each K, strict ranks, and the number of queries with a tie."""
    hits: dict[int, list[np.ndarray]] = {k: [] for k in ks}
    ranks: list[np.ndarray] = []
    ties = 0
    for sims, is_pos in blocks:
        n = sims.shape[1]
        for k in ks:  # one topk per K, as the reference does: topk(10)[:1] need not equal topk(1)
            idx = torch.topk(sims, min(k, n), dim=1).indices
            hits[k].append(is_pos.gather(1, idx).any(dim=1).numpy())
        best = torch.where(is_pos, sims, torch.full_like(sims, -torch.inf)).max(dim=1).values
        has_pos = is_pos.any(dim=1)
        neg_ge = ((sims >= best[:, None]) & ~is_pos).sum(dim=1)
        # a query without any positive can never be answered correctly
        ranks.append(torch.where(has_pos, neg_ge, torch.full_like(neg_ge, n)).numpy())
        ties += int((((sims == best[:, None]) & ~is_pos).any(dim=1) & has_pos).sum())
    return {k: _concat(v) for k, v in hits.items()}, _concat(ranks), ties


def _concat(parts: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(parts) if parts else np.zeros(0)


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


#: chance level of a metric wherever it holds: Winoground-style text / image 1/4, group 1/6; two-way choices 1/2
CHANCE_BY_METRIC = {"group": 1 / 6, "text": 1 / 4, "image": 1 / 4, "orig_acc": 1 / 2, "aug_acc": 1 / 2, "joint_acc": 1 / 4}
#: benchmarks whose `acc` is a two-way choice (caption vs one foil); ARO mixes 2- and 5-way subsets
TWO_WAY_ACC = ("sugarcrepe", "valse", "foils")


def chance_level(dataset: str, metric: str) -> float | None:
    """The score of random guessing for `metric` of `dataset`, or None where it is not one number."""
    if metric == "acc":
        return 0.5 if dataset in TWO_WAY_ACC else None
    return CHANCE_BY_METRIC.get(metric)
