"""Which query models an index accepts: the same model, compared field by field.

An encoder's `identity()` is a JSON object (backend, name, weights hash, preprocessing,
tokenizer, precision). Precision is how a query is computed, not which model it is: a float32
query against vectors embedded under float16 autocast compares the same embedding space (the
stored vectors are float16 anyway), so it is left out of the comparison. Every other field
must match; a refusal names each field that differs, with both values.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Mapping

if TYPE_CHECKING:
    from eqvl.models.base import Encoder, PairScorer

#: identity fields that do not change the embedding space
NOT_IDENTITY = ("precision",)


def model_info(encoder: Encoder | PairScorer, model: str, pretrained: str | None, precision: str, seed: int) -> dict[str, Any]:
    return {"name": model, "pretrained": pretrained, "precision": precision, "seed": seed,
            "identity": encoder.identity()}


def describe_model(info: Mapping[str, Any]) -> str:
    """'eqvl-tiny-rn (pretrained none, weights 1a2b3c4d)' from a manifest's model entry."""
    try:
        weights = json.loads(info.get("identity", "{}")).get("weights", "?")[:8]
    except (ValueError, AttributeError, TypeError):
        weights = "?"
    return f"{info.get('name')} (pretrained {info.get('pretrained')}, weights {weights})"


def identity_fields(identity: str) -> dict[str, Any]:
    """The compared fields of an identity string (a non-JSON identity is one opaque field)."""
    try:
        parsed = json.loads(identity)
    except (ValueError, TypeError):
        parsed = None
    if not isinstance(parsed, dict):
        return {"identity": identity}
    return {k: v for k, v in parsed.items() if k not in NOT_IDENTITY}


def _short(value: Any) -> str:
    text = "(none)" if value is None else str(value)
    return text if len(text) <= 60 else text[:57] + "..."


def differences(built: str, query: str) -> list[str]:
    """'field: index X, query Y' for every compared field that differs (empty: the same model)."""
    a, b = identity_fields(built), identity_fields(query)
    return [f"{key}: index {_short(a.get(key))}, query {_short(b.get(key))}"
            for key in sorted(set(a) | set(b)) if a.get(key) != b.get(key)]


def refusal(root: Any, built: Mapping[str, Any], encoder: Encoder | PairScorer, what: str) -> str | None:
    """The one-line refusal for a query model that is not the index's (None when it is)."""
    diffs = differences(str(built.get("identity", "")), encoder.identity())
    if not diffs:
        return None
    fields = identity_fields(encoder.identity())
    now = {"name": getattr(encoder, "name", fields.get("name", "?")),
           "pretrained": getattr(encoder, "pretrained", "?"), "identity": encoder.identity()}
    return (f"{root} was built with {describe_model(built)}, but {what} is {describe_model(now)}; "
            f"they differ in {'; '.join(diffs)}: embeddings of different models cannot be compared; "
            "query with the index's model or rebuild the index with this one")
