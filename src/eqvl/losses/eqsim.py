"""EqSim (Wang et al., "Equivariant Similarity for Vision-Language Foundation Models", sec. 3, app. C).

For image-text similarities s_ij (image i, caption j):
  v1 (distant pairs):  s_ij = s_ji                          -> (s_ij - s_ji)^2
  v2 (close pairs):    text side  s_ii - s_ij = s_jj - s_ji -> ((s_ii - s_ij) - (s_jj - s_ji))^2
                       image side s_ii - s_ji = s_jj - s_ij -> ((s_ii - s_ji) - (s_jj - s_ij))^2
As in the official FIBER code (github.com/Wangt-CN/EqBen, EqSim/FIBER, `pairloss_criterion`):
each of the three is a batch *mean*, the hinge acts on that mean, [mean - alpha]_+, and the
sum of the three hinged means is weighted by beta. v1's mean runs over the whole N x N matrix
with the close pairs (both directions) zeroed, as the official `MSELoss(S * mask, S.T * mask)`;
v2's over the close pairs. The official default margin is 0 (`pairloss_margin = 0.0`; the
paper sweeps {0, 0.04, 0.1}), so the default here is alpha = 0 and the term always acts.
Differences from the official code, on purpose: one alpha for v1 and v2 (official: a separate
v1 margin, default 0 too); the close set of anchor i is the top-k j != i of row i (paper,
k = 8) or k draws from the row's softmax (the official code draws 4 from the row and 4 from
the column); and the softmax temperature is the model's logit scale *detached* — otherwise
the loss could be satisfied by shrinking the scale until every row is uniform.

With softmax-normalised scores the raw means can sit below a margin such as 0.04 (random
embeddings: ~0.02 at batch 64; measured scales in docs/guide/eqsim.md), which switches the term
off entirely: `EqSimLoss` warns once (log and console) when the hinge has been inactive for
`inactive_warn_steps` steps.
"""

from __future__ import annotations

import logging

import torch

from eqvl.errors import EqvlError
from eqvl.losses.batch import LossBatch
from eqvl.losses.spec import LossOption
from eqvl.losses.registry import LossTerm, Part, register_loss

MODES = ("hybrid", "v1-all", "v2-all", "v2-close", "v1-all+v2-close")
CLOSE_METHODS = ("topk", "sample")
NORMS = ("softmax", "none", "sigmoid")
#: the raw batch means, logged under these part names (weight 0: logged, not optimised)
TERMS = ("eqsim_mse_v1", "eqsim_mse_v2_text", "eqsim_mse_v2_image")

log = logging.getLogger(__name__)


def close_set(sim: torch.Tensor, k: int, method: str = "topk", generator: torch.Generator | None = None,
              valid: torch.Tensor | None = None) -> torch.Tensor:
    """[N, N] bool: close[i, j] for the k partners j != i of anchor i (row i of ``sim``); with ``valid``
    (a fusion model's scored pairs) only among them, fewer where a row has fewer than k."""
    n = sim.shape[0]
    k = min(k, n - 1)
    close = torch.zeros(n, n, dtype=torch.bool, device=sim.device)
    if k <= 0:
        return close
    s = sim.detach().float()
    eye = torch.eye(n, dtype=torch.bool, device=sim.device)
    if valid is not None:
        return _close_among(s, k, valid & ~eye)
    if method == "topk":
        idx = s.masked_fill(eye, float("-inf")).topk(k, dim=1).indices
    elif method == "sample":
        probs = torch.softmax(s.masked_fill(eye, float("-inf")), dim=1)
        idx = torch.multinomial(probs.cpu(), k, replacement=False, generator=generator).to(sim.device)
    else:
        raise EqvlError(f"unknown EqSim close-set method {method!r}; choose from {', '.join(CLOSE_METHODS)}")
    return close.scatter_(1, idx, True)


def _close_among(s: torch.Tensor, k: int, valid: torch.Tensor) -> torch.Tensor:
    """Top-k of each row among its ``valid`` entries (the sampled negatives of a fusion model)."""
    idx = s.masked_fill(~valid, float("-inf")).topk(k, dim=1).indices
    close = torch.zeros_like(valid).scatter_(1, idx, True)
    return close & valid


def eqsim_terms(sim: torch.Tensor, close: torch.Tensor, mode: str = "hybrid",
                valid: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """The batch means `TERMS` of the pairs ``mode`` assigns (a family without pairs is left out).

    ``valid`` (None: every pair, the dual-encoder case) marks the pairs a fusion model scored; a pair
    counts only where both directions were scored, and v1's mean runs over those pairs (not N x N)."""
    if mode not in MODES:
        raise EqvlError(f"unknown EqSim mode {mode!r}; choose from {', '.join(MODES)}")
    n = sim.shape[0]
    off = ~torch.eye(n, dtype=torch.bool, device=sim.device)
    if valid is not None:
        return _masked_terms(sim, close, mode, off & valid & valid.T)
    close = close & off
    near = close | close.T  # the official mask zeroes a close pair in both directions
    v1_pairs = {"hybrid": off & ~near, "v1-all": off, "v1-all+v2-close": off}.get(mode)
    v2_pairs = {"hybrid": close, "v2-all": off, "v2-close": close, "v1-all+v2-close": close}.get(mode)
    st = sim.T
    terms: dict[str, torch.Tensor] = {}
    # masked sums rather than boolean indexing: no gather/copy of the N x N matrices
    if v1_pairs is not None and v1_pairs.any():
        terms[TERMS[0]] = ((sim - st) ** 2 * v1_pairs).sum() / (n * n)
    if v2_pairs is not None and v2_pairs.any():
        d = torch.diagonal(sim)
        dii, djj = d[:, None], d[None, :]
        count = v2_pairs.sum()
        terms[TERMS[1]] = ((((dii - sim) - (djj - st)) ** 2) * v2_pairs).sum() / count  # text side
        terms[TERMS[2]] = ((((dii - st) - (djj - sim)) ** 2) * v2_pairs).sum() / count  # image side
    return terms


def _masked_terms(sim: torch.Tensor, close: torch.Tensor, mode: str, both: torch.Tensor) -> dict[str, torch.Tensor]:
    """`eqsim_terms` on a partly scored matrix: every family restricted to ``both`` (scored both ways)."""
    sim = sim.masked_fill(~both & ~torch.eye(sim.shape[0], dtype=torch.bool, device=sim.device), 0.0)
    close = close & both
    near = close | close.T
    v1_pairs = {"hybrid": both & ~near, "v1-all": both, "v1-all+v2-close": both}.get(mode)
    v2_pairs = {"hybrid": close, "v2-all": both, "v2-close": close, "v1-all+v2-close": close}.get(mode)
    st = sim.T
    terms: dict[str, torch.Tensor] = {}
    if v1_pairs is not None and v1_pairs.any():
        terms[TERMS[0]] = ((sim - st) ** 2 * v1_pairs).sum() / both.sum()
    if v2_pairs is not None and v2_pairs.any():
        d = torch.diagonal(sim)
        dii, djj = d[:, None], d[None, :]
        count = v2_pairs.sum()
        terms[TERMS[1]] = ((((dii - sim) - (djj - st)) ** 2) * v2_pairs).sum() / count
        terms[TERMS[2]] = ((((dii - st) - (djj - sim)) ** 2) * v2_pairs).sum() / count
    return terms


def hinged(terms: dict[str, torch.Tensor], alpha: float) -> torch.Tensor:
    """sum of [mean - alpha]_+ over the terms (the official code's margin after the mean)."""
    total = next(iter(terms.values())).new_zeros(()) if terms else torch.zeros(())
    for mean in terms.values():
        total = total + torch.clamp(mean - alpha, min=0)
    return total


def eqsim_loss(sim: torch.Tensor, close: torch.Tensor, *, alpha: float = 0.0, beta: float = 1.0,
               mode: str = "hybrid", valid: torch.Tensor | None = None) -> torch.Tensor:
    """beta * sum of [mean - alpha]_+ over v1, v2 text side, v2 image side (rows of ``sim`` = images)."""
    return beta * hinged(eqsim_terms(sim, close, mode, valid), alpha)


def normalise(cos: torch.Tensor, logit_scale: torch.Tensor, norm: str) -> torch.Tensor:
    """The paper's s: softmax per row of the scaled cosine (FIBER), sigmoid (METER) or raw cosine."""
    if norm == "softmax":
        return torch.softmax(logit_scale.detach() * cos, dim=1)
    if norm == "sigmoid":
        return torch.sigmoid(logit_scale.detach() * cos)
    if norm == "none":
        return cos
    raise EqvlError(f"unknown EqSim normalisation {norm!r}; choose from {', '.join(NORMS)}")


@register_loss("eqsim")
class EqSimLoss(LossTerm):
    """Softmax-normalised scores, top-8 close set, v2 close / v1 distant, alpha 0 (official default).

    `inactive_warn_steps` > 0: warn once when every hinged mean has stayed at or below alpha
    (the term and its gradient are exactly 0) for that many consecutive steps; 0 never warns."""

    options = (
        LossOption("beta", float, 0.5, "EqSim weight beta (paper: 0.2/0.5/1.0)", low=0),
        LossOption("alpha", float, 0.0, "EqSim hinge margin alpha on each batch mean (official code: 0; paper sweeps "
                   "0/0.04/0.1; a margin above every batch mean switches EqSim off; scales: docs/guide/eqsim.md)", low=0),
        LossOption("k", int, 8, "size of each anchor's close set (v2 applies there)", low=1),
        LossOption("mode", str, "hybrid", "hybrid (v2 close + v1 distant), v1-all, v2-all, v2-close, v1-all+v2-close",
                   choices=MODES),
        LossOption("close", str, "topk", "close set: topk (paper) or sample (from the row softmax, official code)",
                   choices=CLOSE_METHODS),
        LossOption("norm", str, "softmax", "similarity normalisation: softmax per row (paper, FIBER), sigmoid (METER), "
                   "none (cosine)", choices=NORMS),
        LossOption("inactive_warn_steps", int, 50, "warn once when EqSim's hinge has been off for N consecutive steps "
                   "(0: never)", low=0),
    )

    def __init__(self, beta: float = 0.5, alpha: float = 0.0, k: int = 8, mode: str = "hybrid",
                 close: str = "topk", norm: str = "softmax", inactive_warn_steps: int = 50):
        super().__init__()
        if mode not in MODES:
            raise EqvlError(f"unknown eqsim_mode {mode!r}; choose from {', '.join(MODES)}", param="eqsim_mode")
        if close not in CLOSE_METHODS:
            raise EqvlError(f"unknown eqsim_close {close!r}; choose from {', '.join(CLOSE_METHODS)}", param="eqsim_close")
        if norm not in NORMS:
            raise EqvlError(f"unknown eqsim_norm {norm!r}; choose from {', '.join(NORMS)}", param="eqsim_norm")
        if inactive_warn_steps < 0:
            raise EqvlError(f"eqsim_inactive_warn_steps must be >= 0, got {inactive_warn_steps}", param="eqsim_inactive_warn_steps")
        self.beta, self.alpha, self.k, self.mode, self.close, self.norm = beta, alpha, k, mode, close, norm
        self.inactive_warn_steps = inactive_warn_steps
        self.inactive_steps = 0  # consecutive training steps with every hinge off
        self.warned = False

    def forward(self, b: LossBatch) -> list[Part]:
        if b.pair_logits is not None:  # a fusion model: its ITM probabilities, sigmoid as METER (not `norm`)
            sim, valid = torch.sigmoid(b.pair_logits), b.pair_mask
            rank = sim if b.close_scores is None else torch.where(b.close_scores.isnan(), sim.detach(), b.close_scores)
            # cached negatives: only anchors choose a close set (a negative's one partner is its anchor)
            pick = valid if b.pair_anchor is None or valid is None else valid & b.pair_anchor[:, None]
            terms = eqsim_terms(sim, close_set(rank, self.k, valid=pick), self.mode, valid)
        else:
            # the whole global matrix: the row softmax and the hinge on the mean need every pair
            sim = normalise(b.image @ b.text.T, b.logit_scale, self.norm)
            gen = None
            if self.close == "sample":
                gen = torch.Generator().manual_seed(b.seed * 1_000_003 + b.step)
            terms = eqsim_terms(sim, close_set(sim, self.k, self.close, gen), self.mode)
        raw = {name: mean.detach() for name, mean in terms.items()}
        active = sum(((m > self.alpha).to(torch.int64) for m in raw.values()), torch.zeros((), dtype=torch.int64))
        if self.training and torch.is_grad_enabled():
            self._track(raw, int(active), b)
        parts: list[Part] = [("eqsim", hinged(terms, self.alpha), self.beta)]
        parts += [(name, mean, 0.0) for name, mean in raw.items()]
        return parts + [("eqsim_active", active.to(sim.dtype), 0.0)]

    def _track(self, raw: dict[str, torch.Tensor], active: int, b: LossBatch) -> None:
        """Count consecutive steps with the hinge off; warn once (rank 0 only) when it reaches the limit."""
        self.inactive_steps = 0 if active else self.inactive_steps + 1
        if self.warned or not self.inactive_warn_steps or self.inactive_steps < self.inactive_warn_steps:
            return
        self.warned = True
        if b.start != 0:  # another process holds the first rows and warns for all
            return
        means = ", ".join(f"{name.removeprefix('eqsim_')} {float(v):.3g}" for name, v in raw.items())
        msg = (f"EqSim has been inactive for {self.inactive_steps} steps: every batch mean is at or below the "
               f"margin alpha = {self.alpha:g} ({means} at step {b.step}), so the term and its gradient are 0 and "
               f"training equals the other terms alone; lower eqsim_alpha (0 = always active) or change eqsim_norm")
        log.warning(msg, extra={"params": ("eqsim_alpha", "eqsim_norm")})
