"""Metrics against hand-computed cases, ties included (ties are wrong)."""

import numpy as np
import pytest

from eqvl import metrics


def twin(s00, s01, s10, s11):
    """scores[caption, image]"""
    return np.array([[[s00, s01], [s10, s11]]], dtype=float)


def test_winoground_all_correct():
    r = metrics.winoground_scores(twin(0.9, 0.1, 0.2, 0.8))
    assert r["text"].tolist() == [True] and r["image"].tolist() == [True] and r["group"].tolist() == [True]


def test_winoground_text_only():
    # text: s(c0,i0)=.5 > s(c1,i0)=.4 and s(c1,i1)=.6 > s(c0,i1)=.55 -> True
    # image: s(c0,i0)=.5 > s(c0,i1)=.55 -> False
    r = metrics.winoground_scores(twin(0.5, 0.55, 0.4, 0.6))
    assert r["text"].tolist() == [True]
    assert r["image"].tolist() == [False]
    assert r["group"].tolist() == [False]


def test_winoground_ties_are_wrong():
    r = metrics.winoground_scores(np.full((3, 2, 2), 0.3))
    for key in ("text", "image", "group"):
        assert not r[key].any()


def test_winoground_shape_check():
    with pytest.raises(ValueError):
        metrics.winoground_scores(np.zeros((2, 3, 2)))


def test_equivariance_scores_hand_computed():
    # s_ij = s(I_i, T_j): s11=.9, s12=s(I1,T2)=s[c1,i0]=.2, s21=s(I2,T1)=s[c0,i1]=.1, s22=.8
    e = metrics.equivariance_scores(twin(0.9, 0.1, 0.2, 0.8))
    assert e["text"][0] == pytest.approx(abs((0.9 - 0.2) - (0.8 - 0.1)))
    assert e["image"][0] == pytest.approx(abs((0.9 - 0.1) - (0.8 - 0.2)))


def test_pairwise_and_ranking():
    s = np.array([[[0.5], [0.4]], [[0.3], [0.3]], [[0.1], [0.2]]])
    assert metrics.pairwise_accuracy(s).tolist() == [True, False, False]
    r = np.array([[[0.5], [0.4], [0.49]], [[0.5], [0.5], [0.1]]])
    assert metrics.ranking_correct(r).tolist() == [True, False]


def test_hardpos_scores():
    s = np.array(
        [
            [[0.9], [0.8], [0.1]],  # all good
            [[0.9], [0.1], [0.5]],  # brittle: c > cn > cp
            [[0.5], [0.9], [0.5]],  # tie c == cn -> orig wrong
        ]
    )
    r = metrics.hardpos_scores(s)
    assert r["orig_acc"].tolist() == [True, True, False]
    assert r["aug_acc"].tolist() == [True, False, True]
    assert r["joint_acc"].tolist() == [True, False, False]
    assert r["brittle"].tolist() == [False, True, False]


def test_probability_scores_and_recall():
    r = metrics.probability_scores(np.array([0.9, 0.4]), np.array([0.2, 0.6]))
    assert r["pc"] == 0.5 and r["pf"] == 0.5 and r["acc"] == 0.5 and r["min_pc_pf"] == 0.5
    rec = metrics.recall_at_k(np.array([0, 3, 7, 12]), ks=(1, 5, 10))
    assert rec == {1: 0.25, 5: 0.5, 10: 0.75}


def test_macro_accuracy_excludes_and_min_count():
    groups = ["on", "on", "next to", "eating", "eating", "eating"]
    correct = np.array([True, False, False, True, True, False])
    macro, per = metrics.macro_accuracy(groups, correct, exclude={"next to"}, min_count=2)
    assert macro == pytest.approx((0.5 + 2 / 3) / 2)
    assert per["next to"] == {"acc": 0.0, "n": 1, "counted": False}
    assert per["eating"]["n"] == 3 and per["eating"]["counted"] is True
    assert np.isnan(metrics.macro_accuracy(["a"], np.array([True]), min_count=2)[0])
