"""Encoders: one protocol (`eqvl.models.base`), several backends."""
