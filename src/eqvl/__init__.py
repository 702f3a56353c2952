"""eqvl: equivariant, compositional image-text similarity (measure, train, build, serve).

The notebook surface (imported lazily, so `import eqvl` stays light):
`eqvl.load_model(name, pretrained)` -> `Model` (`.score(images, captions)`, `.embed_images`, `.embed_texts`),
`eqvl.evaluate(model, benchmark, data)` -> `Results` (`.metrics`, `.subsets`, `.to_json()`),
`eqvl.train_model(**TrainConfig fields)` (`eqvl.train` is the training package).
"""

from typing import Any

from eqvl.version import __version__

_API = {"load_model", "evaluate", "train_model", "Model", "Results"}
__all__ = sorted(_API) + ["__version__"]


def __getattr__(name: str) -> Any:
    if name in _API:
        from eqvl import api

        return getattr(api, name)
    raise AttributeError(f"module 'eqvl' has no attribute {name!r}")
