"""eqvl: equivariant, compositional image-text similarity (measure, train, build, serve).

The notebook surface (imported lazily, so `import eqvl` stays light):
`eqvl.load_model(name, pretrained)` -> `Model` (`.score(images, captions)`, `.embed_images`, `.embed_texts`),
`eqvl.evaluate(model, benchmark, data)` -> `Results` (`.metrics`, `.subsets`, `.to_json()`),
`eqvl.train_model(**TrainConfig fields)` (`eqvl.train` is the training package),
`eqvl.Index` (a searchable embedding index, `eqvl.index.Index`).
"""

from typing import Any

from eqvl.version import __version__

_API = {"load_model", "evaluate", "train_model", "Model", "Results"}
#: names served by other modules than eqvl.api: name -> module
_ELSEWHERE = {"Index": "eqvl.index"}
__all__ = sorted(_API | set(_ELSEWHERE)) + ["__version__"]


def __getattr__(name: str) -> Any:
    if name in _API:
        from eqvl import api

        return getattr(api, name)
    if name in _ELSEWHERE:
        import importlib

        return getattr(importlib.import_module(_ELSEWHERE[name]), name)
    raise AttributeError(f"module 'eqvl' has no attribute {name!r}")


def __dir__() -> list[str]:
    """Notebook completion shows the lazily imported API, not only what `import eqvl` loaded."""
    return sorted(set(__all__) | {n for n in globals() if n.startswith("__")})
