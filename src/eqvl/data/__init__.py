"""Canonical records shared by readers, the scoring engine, synth and the trainer."""

from eqvl.data.records import ImageRef, ScoreItem, TrainPair

__all__ = ["ImageRef", "ScoreItem", "TrainPair"]
