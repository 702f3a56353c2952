"""Each loss against a brute-force Python loop over the paper's formula: values and gradients."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from eqvl.errors import EqvlError
from eqvl.losses import (LossSpec, CombinedLoss, LossBatch, close_set, eqsim_loss, get_loss, intra_modal_loss,
                         positive_contrastive_loss, positive_margin_loss, rank_loss, update_tau)
from eqvl.losses.ce import CELoss
from eqvl.losses.eqsim import EqSimLoss, normalise
from eqvl.losses.hardpos import HardPosLoss
from eqvl.losses.itc import ITCLoss


@pytest.fixture(autouse=True)
def _float64():
    """Brute force vs vectorised to 1e-10 needs double precision; restored after each test."""
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


def _check(fn_fast, fn_slow, *inputs):
    """Same value and same gradient w.r.t. every input."""
    a = [x.clone().requires_grad_(True) for x in inputs]
    b = [x.clone().requires_grad_(True) for x in inputs]
    va, vb = fn_fast(*a), fn_slow(*b)
    assert torch.allclose(va, vb, atol=1e-10), (va.item(), vb.item())
    ga = torch.autograd.grad(va, a, allow_unused=True)
    gb = torch.autograd.grad(vb, b, allow_unused=True)
    for x, y in zip(ga, gb):
        x = torch.zeros_like(a[0]) if x is None else x
        y = torch.zeros_like(a[0]) if y is None else y
        assert torch.allclose(x, y, atol=1e-10)
    assert va.item() != 0.0  # the case exercises the loss


# ---------------------------------------------------------------- EqSim

def _eqsim_slow(s, close, alpha, beta, mode):
    """The official FIBER code's definition, pair by pair: v1 = the mean over all N x N entries of
    (s_ij - s_ji)^2 with close pairs (either direction) zeroed; v2 text / image side = means over the
    close pairs; each hinged after the mean."""
    n = s.shape[0]
    v1, v2t, v2i = [], [], []
    for i in range(n):
        for j in range(n):
            if i == j:
                continue
            is_close = bool(close[i, j])
            near = is_close or bool(close[j, i])
            if mode == "v1-all" or mode == "v1-all+v2-close" or (mode == "hybrid" and not near):
                v1.append((s[i, j] - s[j, i]) ** 2)
            if mode == "v2-all" or (mode in ("hybrid", "v2-close", "v1-all+v2-close") and is_close):
                v2t.append(((s[i, i] - s[i, j]) - (s[j, j] - s[j, i])) ** 2)
                v2i.append(((s[i, i] - s[j, i]) - (s[j, j] - s[i, j])) ** 2)
    total = s.new_zeros(())
    for terms, count in ((v1, n * n), (v2t, len(v2t)), (v2i, len(v2i))):
        if terms:
            total = total + max(sum(terms) / count - alpha, s.new_zeros(()))
    return beta * total


def _official_pairloss(s, close, alpha, beta):
    """A faithful re-implementation of the official `pairloss_criterion` + `get_pairloss_v1_itc_hard`
    (hybrid mode): gather (s_00, s_0i, s_i0, s_ii) per close pair, nn.MSELoss per side, margin after
    the mean; v1 = nn.MSELoss(S * mask, S.T * mask) with the close pairs masked both ways."""
    rows, cols = torch.nonzero(close, as_tuple=True)
    c0_i0, c1_i0, c0_i1, c1_i1 = s[rows, rows], s[rows, cols], s[cols, rows], s[cols, cols]
    mse = torch.nn.MSELoss()
    text = (mse(c0_i0 - c1_i0, c1_i1 - c0_i1) - alpha).clamp(min=0.0)
    image = (mse(c0_i0 - c0_i1, c1_i1 - c1_i0) - alpha).clamp(min=0.0)
    mask = torch.ones_like(s)
    mask[rows, cols] = 0.0
    mask[cols, rows] = 0.0
    v1 = (mse(s * mask, s.T * mask) - alpha).clamp(min=0.0)
    return beta * (text + image + v1)


@pytest.mark.parametrize("mode", ["hybrid", "v1-all", "v2-all", "v2-close", "v1-all+v2-close"])
@pytest.mark.parametrize("alpha", [0.0, 0.01])
def test_eqsim_matches_brute_force(mode, alpha):
    g = torch.Generator().manual_seed(0)
    s = torch.rand(7, 7, generator=g)
    close = close_set(s, 3)
    _check(lambda x: eqsim_loss(x, close, alpha=alpha, beta=0.5, mode=mode),
           lambda x: _eqsim_slow(x, close, alpha, 0.5, mode), s)


@pytest.mark.parametrize("alpha", [0.0, 0.02])
def test_eqsim_matches_official_pairloss(alpha):
    s = torch.softmax(3 * torch.randn(9, 9, generator=torch.Generator().manual_seed(7)), dim=1)
    close = close_set(s, 3)
    _check(lambda x: eqsim_loss(x, close, alpha=alpha, beta=0.5),
           lambda x: _official_pairloss(x, close, alpha, 0.5), s)


def test_eqsim_hinge_switches_term_off():
    s = torch.rand(6, 6, generator=torch.Generator().manual_seed(1)).requires_grad_(True)
    close = close_set(s, 2)
    loss = eqsim_loss(s, close, alpha=10.0, beta=1.0)
    assert loss.item() == 0.0
    (g,) = torch.autograd.grad(loss, s, allow_unused=True)
    assert g is None or torch.count_nonzero(g) == 0


def test_close_set_topk_brute_force():
    s = torch.randn(9, 9, generator=torch.Generator().manual_seed(2))
    close = close_set(s, 3)
    for i in range(9):
        others = sorted((j for j in range(9) if j != i), key=lambda j: -s[i, j].item())[:3]
        assert set(torch.nonzero(close[i]).flatten().tolist()) == set(others)


def test_close_set_sample_is_seeded_and_excludes_anchor():
    s = torch.randn(10, 10, generator=torch.Generator().manual_seed(3))
    a = close_set(s, 4, "sample", torch.Generator().manual_seed(5))
    b = close_set(s, 4, "sample", torch.Generator().manual_seed(5))
    assert torch.equal(a, b)
    assert not a.diagonal().any() and (a.sum(1) == 4).all()


def test_eqsim_term_softmax_normalised_rows():
    g = torch.Generator().manual_seed(4)
    img = F.normalize(torch.randn(6, 5, generator=g), dim=-1)
    txt = F.normalize(torch.randn(6, 5, generator=g), dim=-1)
    scale = torch.tensor(10.0)
    term = EqSimLoss(beta=0.5, alpha=0.0, k=2)
    (name, raw, w), *logged = term(LossBatch(image=img, text=txt, logit_scale=scale))
    names = [n for n, _, _ in logged]
    assert names == ["eqsim_mse_v1", "eqsim_mse_v2_text", "eqsim_mse_v2_image", "eqsim_active"]
    assert all(wt == 0.0 for _, _, wt in logged)  # logged only
    sim = torch.softmax(10.0 * img @ txt.T, dim=1)
    assert torch.allclose(sim.sum(1), torch.ones(6))
    assert name == "eqsim" and w == 0.5
    assert torch.allclose(raw, _eqsim_slow(sim, close_set(sim, 2), 0.0, 1.0, "hybrid"))
    assert torch.allclose(normalise(img @ txt.T, scale, "softmax"), sim)
    means = [v for _, v, _ in logged[:3]]
    assert torch.allclose(raw, sum(means))  # alpha 0: the loss is the sum of the three logged means
    assert logged[3][1].item() == 3  # all three hinges active


def _batch(n, d=32, seed=0, scale=100.0):
    g = torch.Generator().manual_seed(seed)
    img = F.normalize(torch.randn(n, d, generator=g), dim=-1).requires_grad_(True)
    txt = F.normalize(torch.randn(n, d, generator=g), dim=-1).requires_grad_(True)
    return LossBatch(image=img, text=txt, logit_scale=torch.tensor(scale), step=0)


def test_eqsim_defaults_act_on_64_random_embeddings():
    """The issue's case: at the defaults (softmax, top-8, beta 0.5) the term was 0 at batch 64."""
    b = _batch(64)
    term = EqSimLoss()
    assert term.alpha == 0.0
    total, parts = CombinedLoss({"eqsim": term})(b)
    assert total.item() > 0.0 and parts["eqsim_active"].item() == 3
    gi, gt = torch.autograd.grad(total, [b.image, b.text])
    assert gi.abs().sum().item() > 0 and gt.abs().sum().item() > 0


def _above_raw_terms(b):
    """A margin 10x the largest raw batch mean of `b`: the hinge is certainly off."""
    _, parts = CombinedLoss({"eqsim": EqSimLoss()})(b)
    return 10 * max(parts[n].item() for n in ("eqsim_mse_v1", "eqsim_mse_v2_text", "eqsim_mse_v2_image"))


def test_eqsim_warns_once_when_hinge_stays_inactive(caplog, capsys):
    batches = [_batch(64, seed=step) for step in range(6)]
    alpha = max(_above_raw_terms(b) for b in batches)
    term = EqSimLoss(alpha=alpha, inactive_warn_steps=3)
    with caplog.at_level("WARNING", logger="eqvl.losses.eqsim"):
        for step, b in enumerate(batches):
            b.step = step
            (_, loss, _), *_ = term(b)
            assert loss.item() == 0.0
    warnings = [r for r in caplog.records if "inactive for 3 steps" in r.getMessage()]
    assert len(warnings) == 1 and f"alpha = {alpha:g}" in warnings[0].getMessage()
    assert "lower eqsim_alpha" in warnings[0].getMessage()  # the library names its parameter
    assert capsys.readouterr().err == ""  # and prints nothing itself: the CLI decides how to show it
    from eqvl.commands.common import _CommandVoice

    _CommandVoice("train").emit(warnings[0])
    err = capsys.readouterr().err
    assert err.startswith("eqvl train: warning: EqSim has been inactive") and "lower --eqsim-alpha" in err


def test_eqsim_inactivity_counter_resets_and_can_be_disabled(caplog, capsys):
    batches = [_batch(64, seed=step) for step in range(5)]
    alpha = max(_above_raw_terms(b) for b in batches)
    term = EqSimLoss(alpha=alpha, inactive_warn_steps=3)
    quiet = EqSimLoss(alpha=alpha, inactive_warn_steps=0)
    for step, b in enumerate(batches):
        term.alpha = 0.0 if step == 2 else alpha  # the hinge acts at step 2: the count starts again
        term(b)
        quiet(b)
    assert term.inactive_steps == 2 and quiet.inactive_steps == 5
    assert "inactive" not in capsys.readouterr().err
    assert not [r for r in caplog.records if "inactive" in r.getMessage()]
    with pytest.raises(EqvlError, match="inactive_warn_steps"):
        EqSimLoss(inactive_warn_steps=-1)


def test_eqsim_bad_mode_is_clear():
    with pytest.raises(EqvlError, match="v2-close"):
        EqSimLoss(mode="v3")


# ---------------------------------------------------------------- ITC

def _itc_slow(li, lt, extra):
    n = li.shape[0]
    total = li.new_zeros(())
    for i in range(n):
        row = list(li[i]) + ([e for e in extra[i] if e != float("-inf")] if extra is not None else [])
        total = total - (li[i, i] - torch.logsumexp(torch.stack(row), 0)) / (2 * n)
        total = total - (lt[i, i] - torch.logsumexp(lt[i], 0)) / (2 * n)
    return total


def test_itc_equals_open_clip_cliploss():
    from open_clip.loss import ClipLoss

    g = torch.Generator().manual_seed(5)
    img = F.normalize(torch.randn(8, 16, generator=g), dim=-1)
    txt = F.normalize(torch.randn(8, 16, generator=g), dim=-1)
    scale = torch.tensor(14.3)

    def ours(i, t):
        return ITCLoss()(LossBatch(image=i, text=t, logit_scale=scale))[0][1]

    def theirs(i, t):
        return ClipLoss()(i, t, scale)

    _check(ours, theirs, img, txt)
    _check(lambda i, t: ours(i, t), lambda i, t: _itc_slow(scale * i @ t.T, scale * t @ i.T, None), img, txt)


def test_itc_with_hard_negatives_brute_force():
    g = torch.Generator().manual_seed(6)
    n, k, d = 5, 3, 8
    img = F.normalize(torch.randn(n, d, generator=g), dim=-1)
    txt = F.normalize(torch.randn(n, d, generator=g), dim=-1)
    neg = F.normalize(torch.randn(n, k, d, generator=g), dim=-1)
    mask = torch.rand(n, k, generator=g) > 0.3
    scale = torch.tensor(7.0)

    def ours(i, t, ng):
        b = LossBatch(image=i, text=t, logit_scale=scale, neg=ng, neg_mask=mask)
        return ITCLoss()(b)[0][1]

    def slow(i, t, ng):
        flat, fmask = ng.reshape(-1, d), mask.reshape(-1)
        extra = (scale * i @ flat.T).masked_fill(~fmask[None], float("-inf"))
        return _itc_slow(scale * i @ t.T, scale * t @ i.T, extra)

    _check(ours, slow, img, txt, neg)


# ---------------------------------------------------------------- CE-CLIP

def test_rank_loss_brute_force():
    g = torch.Generator().manual_seed(7)
    pos, neg = torch.randn(6, generator=g), torch.randn(6, 4, generator=g)
    mask = torch.rand(6, 4, generator=g) > 0.3
    types = torch.randint(0, 3, (6, 4), generator=g)
    tau = torch.tensor([0.1, 0.5, 0.9])

    def slow(p, ng):
        terms = [torch.relu(tau[types[i, k]] + ng[i, k] - p[i]) for i in range(6) for k in range(4) if mask[i, k]]
        return sum(terms) / len(terms)

    _check(lambda p, ng: rank_loss(p, ng, mask, tau[types]), slow, pos, neg)


def test_tau_update_per_type_detached_and_clamped():
    pos = torch.tensor([1.0, 2.0, 3.0])
    neg = torch.tensor([[0.0, 5.0], [1.0, 0.5], [9.0, 1.5]], requires_grad=True)
    mask = torch.tensor([[True, True], [True, False], [False, True]])
    types = torch.tensor([[0, 1], [0, 1], [0, 1]])
    tau = update_tau(pos, neg, mask, types, torch.tensor([0.3, 0.3, 0.7]), tau_max=1.5)
    # type 0: mean pos 2 - mean(0, 1) = 1.5 -> 1.5; type 1: 2 - mean(5, 1.5) = -1.25 -> 0; type 2 absent: kept
    assert torch.allclose(tau, torch.tensor([1.5, 0.0, 0.7]))
    assert not tau.requires_grad


def test_intra_modal_brute_force():
    g = torch.Generator().manual_seed(8)
    pos, tneg = torch.randn(5, generator=g), torch.randn(5, 3, generator=g)
    mask = torch.rand(5, 3, generator=g) > 0.4
    mask[2] = False  # a caption without negatives contributes nothing

    def slow(p, t):
        terms = []
        for i in range(5):
            negs = [t[i, k] for k in range(3) if mask[i, k]]
            if negs:
                terms.append(-(p[i] - torch.logsumexp(torch.stack([p[i], *negs]), 0)))
        return sum(terms) / len(terms)

    _check(lambda p, t: intra_modal_loss(p, t, mask), slow, pos, tneg)


def test_ce_term_uses_own_negatives_in_text_space_and_updates_tau():
    g = torch.Generator().manual_seed(9)
    n, k, d = 4, 2, 6
    img = F.normalize(torch.randn(n, d, generator=g), dim=-1)
    txt = F.normalize(torch.randn(n, d, generator=g), dim=-1)
    neg = F.normalize(torch.randn(n, k, d, generator=g), dim=-1)
    mask = torch.ones(n, k, dtype=torch.bool)
    types = torch.tensor([[0, 1]] * n)
    term = CELoss(n_types=2, tau_max=100.0)
    b = LossBatch(image=img, text=txt, logit_scale=torch.tensor(1.0), neg=neg, neg_mask=mask, neg_type=types)
    parts = {name: (raw, w) for name, raw, w in term(b)}
    assert parts["ce_rank"][1] == 0.2 and parts["ce_imc"][1] == 0.3
    pos = (img * txt).sum(-1)
    imc = sum(-(pos[i] - torch.logsumexp(torch.stack([pos[i]] + [txt[i] @ neg[i, j] for j in range(k)]), 0))
              for i in range(n)) / n
    assert torch.allclose(parts["ce_imc"][0], imc)
    s_neg = torch.einsum("nd,nkd->nk", img, neg)
    assert torch.allclose(term.tau, (pos.mean() - s_neg.mean(0)).clamp(min=0))


# ---------------------------------------------------------------- hard positives

def test_positive_contrastive_brute_force():
    g = torch.Generator().manual_seed(10)
    n, p, m = 4, 2, 5
    pos = torch.randn(n, p, generator=g)
    pmask = torch.tensor([[True, False], [True, True], [False, False], [False, True]])
    i2t = torch.randn(n, n, generator=g)
    negl = torch.randn(n, m, generator=g)
    negl[0, 1] = float("-inf")
    t2i = torch.randn(n, p, n, generator=g)

    def slow(ps, it, ng, ti):
        terms = []
        for i in range(n):
            for q in range(p):
                if not pmask[i, q]:
                    continue
                row = [ps[i, q]] + [it[i, j] for j in range(n) if j != i] + [x for x in ng[i] if x != float("-inf")]
                a = torch.logsumexp(torch.stack(row), 0) - ps[i, q]
                b = torch.logsumexp(ti[i, q], 0) - ti[i, q, i]
                terms.append((a + b) / 2)
        return sum(terms) / len(terms)

    fast = lambda ps, it, ng, ti: positive_contrastive_loss(ps, pmask, it, ng, ti)  # noqa: E731
    a = [x.clone().requires_grad_(True) for x in (pos, i2t, negl, t2i)]
    b = [x.clone().requires_grad_(True) for x in (pos, i2t, negl, t2i)]
    va, vb = fast(*a), slow(*b)
    assert torch.allclose(va, vb)
    for x, y in zip(torch.autograd.grad(va, a), torch.autograd.grad(vb, b)):
        assert torch.allclose(torch.nan_to_num(x), torch.nan_to_num(y))


def test_positive_margin_brute_force():
    g = torch.Generator().manual_seed(11)
    pos, neg = torch.randn(4, 2, generator=g), torch.randn(4, 3, generator=g)
    pm, nm = torch.rand(4, 2, generator=g) > 0.3, torch.rand(4, 3, generator=g) > 0.3

    def slow(p, ng):
        t = [torch.relu(0.2 + ng[i, c] - p[i, q]) for i in range(4) for q in range(2) for c in range(3) if pm[i, q] and nm[i, c]]
        return sum(t) / len(t)

    _check(lambda p, ng: positive_margin_loss(p, pm, ng, nm, 0.2), slow, pos, neg)


# ---------------------------------------------------------------- registry / combine

def test_parse_and_combine_logs_each_part():
    assert LossSpec.parse("itc+eqsim+ce+hardpos").terms == ("itc", "eqsim", "ce", "hardpos")
    with pytest.raises(EqvlError, match="available"):
        LossSpec.parse("itc+nope")
    with pytest.raises(EqvlError, match="repeats"):
        LossSpec.parse("itc+itc")
    g = torch.Generator().manual_seed(12)
    n, d = 6, 8
    f = lambda *s: F.normalize(torch.randn(*s, d, generator=g), dim=-1)  # noqa: E731
    b = LossBatch(image=f(n), text=f(n), logit_scale=torch.tensor(5.0), neg=f(n, 2), neg_mask=torch.ones(n, 2, dtype=torch.bool),
                  neg_type=torch.zeros(n, 2, dtype=torch.long), pos=f(n, 1), pos_mask=torch.ones(n, 1, dtype=torch.bool))
    combo = CombinedLoss({"itc": ITCLoss(), "eqsim": EqSimLoss(alpha=0.0), "ce": CELoss(), "hardpos": HardPosLoss()})
    total, parts = combo(b)
    # 6 images, k = 8: every pair is close, so there is no v1 pair and no eqsim_mse_v1 part
    assert set(parts) == {"itc", "eqsim", "eqsim_mse_v2_text", "eqsim_mse_v2_image", "eqsim_active", "ce_rank", "ce_imc",
                          "hardpos", "hardpos_margin"}
    expect = parts["itc"] + 0.5 * parts["eqsim"] + 0.2 * parts["ce_rank"] + 0.3 * parts["ce_imc"] + parts["hardpos"] + parts["hardpos_margin"]
    assert torch.allclose(total, expect) and math.isfinite(total.item())
    assert combo.needs_negatives and combo.needs_positives
    assert get_loss("eqsim") is EqSimLoss
