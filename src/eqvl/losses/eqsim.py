"""EqSim (Wang et al., "Equivariant Similarity for Vision-Language Foundation Models", sec. 3, app. C).

For image-text similarities s_ij (image i, caption j):
  v1 (distant pairs):  s_ij = s_ji                            -> (s_ij - s_ji)^2
  v2 (close pairs):    s_ii - s_ij = s_jj - s_ji and
                       s_ii - s_ji = s_jj - s_ij              -> both squared differences
Each family is a mean squared error with a hinge margin alpha, [mse - alpha]_+, and the sum
is weighted by beta. The "close" set of anchor i is the top-k j != i of row i (paper, k = 8)
or k draws from the row's softmax (the official code). For dual encoders the paper takes the
cosine similarity and normalises it by a softmax per row (FIBER); we use the model's logit
scale as the softmax temperature, *detached*: otherwise the loss could be satisfied by
shrinking the scale until every row is uniform.
"""

from __future__ import annotations

import torch

from eqvl.errors import EqvlError
from eqvl.losses.batch import LossBatch
from eqvl.losses.registry import LossTerm, Part, register_loss

MODES = ("hybrid", "v1-all", "v2-all", "v2-close", "v1-all+v2-close")
CLOSE_METHODS = ("topk", "sample")
NORMS = ("softmax", "none", "sigmoid")


def close_set(sim: torch.Tensor, k: int, method: str = "topk", generator: torch.Generator | None = None) -> torch.Tensor:
    """[N, N] bool: close[i, j] for the k partners j != i of anchor i (row i of ``sim``)."""
    n = sim.shape[0]
    k = min(k, n - 1)
    close = torch.zeros(n, n, dtype=torch.bool, device=sim.device)
    if k <= 0:
        return close
    s = sim.detach().float()
    eye = torch.eye(n, dtype=torch.bool, device=sim.device)
    if method == "topk":
        idx = s.masked_fill(eye, float("-inf")).topk(k, dim=1).indices
    elif method == "sample":
        probs = torch.softmax(s.masked_fill(eye, float("-inf")), dim=1)
        idx = torch.multinomial(probs.cpu(), k, replacement=False, generator=generator).to(sim.device)
    else:
        raise EqvlError(f"unknown EqSim close-set method {method!r}; choose from {', '.join(CLOSE_METHODS)}")
    return close.scatter_(1, idx, True)


def eqsim_terms(sim: torch.Tensor, close: torch.Tensor, mode: str = "hybrid") -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """Mean squared errors (mse_v1, mse_v2) over the pairs ``mode`` assigns; None if no pair."""
    if mode not in MODES:
        raise EqvlError(f"unknown EqSim mode {mode!r}; choose from {', '.join(MODES)}")
    n = sim.shape[0]
    off = ~torch.eye(n, dtype=torch.bool, device=sim.device)
    close = close & off
    v1_pairs = {"hybrid": off & ~close, "v1-all": off, "v1-all+v2-close": off}.get(mode)
    v2_pairs = {"hybrid": close, "v2-all": off, "v2-close": close, "v1-all+v2-close": close}.get(mode)
    st = sim.T
    mse_v1 = mse_v2 = None
    # masked sums rather than boolean indexing: no gather/copy of the N x N matrices
    if v1_pairs is not None and v1_pairs.any():
        mse_v1 = ((sim - st) ** 2 * v1_pairs).sum() / v1_pairs.sum()
    if v2_pairs is not None and v2_pairs.any():
        d = torch.diagonal(sim)
        dii, djj = d[:, None], d[None, :]
        a = (dii - sim) - (djj - st)  # (s_ii - s_ij) - (s_jj - s_ji)
        b = (dii - st) - (djj - sim)  # (s_ii - s_ji) - (s_jj - s_ij)
        mse_v2 = ((a**2 + b**2) * v2_pairs).sum() / (2 * v2_pairs.sum())
    return mse_v1, mse_v2


def eqsim_loss(sim: torch.Tensor, close: torch.Tensor, *, alpha: float = 0.0, beta: float = 1.0,
               mode: str = "hybrid") -> torch.Tensor:
    """beta * ([mse_v1 - alpha]_+ + [mse_v2 - alpha]_+) on a similarity matrix (rows = images)."""
    mse_v1, mse_v2 = eqsim_terms(sim, close, mode)
    total = sim.new_zeros(())
    for mse in (mse_v1, mse_v2):
        if mse is not None:
            total = total + torch.clamp(mse - alpha, min=0)
    return beta * total


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
    """The paper's default: softmax-normalised, top-8 close set, v2 close / v1 distant."""

    def __init__(self, beta: float = 0.5, alpha: float = 0.04, k: int = 8, mode: str = "hybrid",
                 close: str = "topk", norm: str = "softmax"):
        super().__init__()
        if mode not in MODES:
            raise EqvlError(f"unknown --eqsim-mode {mode!r}; choose from {', '.join(MODES)}")
        if close not in CLOSE_METHODS:
            raise EqvlError(f"unknown --eqsim-close {close!r}; choose from {', '.join(CLOSE_METHODS)}")
        if norm not in NORMS:
            raise EqvlError(f"unknown --eqsim-norm {norm!r}; choose from {', '.join(NORMS)}")
        self.beta, self.alpha, self.k, self.mode, self.close, self.norm = beta, alpha, k, mode, close, norm

    def forward(self, b: LossBatch) -> list[Part]:
        # the whole global matrix: the row softmax and the hinge on the mean need every pair
        sim = normalise(b.image @ b.text.T, b.logit_scale, self.norm)
        gen = None
        if self.close == "sample":
            gen = torch.Generator().manual_seed(b.seed * 1_000_003 + b.step)
        close = close_set(sim, self.k, self.close, gen)
        mse_v1, mse_v2 = eqsim_terms(sim, close, self.mode)
        loss = sim.new_zeros(())
        parts: list[Part] = []
        for name, mse in (("eqsim_mse_v1", mse_v1), ("eqsim_mse_v2", mse_v2)):
            if mse is not None:
                loss = loss + torch.clamp(mse - self.alpha, min=0)
                # logged, not optimised (weight 0): the hinge only acts while an mse exceeds alpha
                parts.append((name, mse.detach(), 0.0))
        return [("eqsim", loss, self.beta), *parts]
