"""eqvl: equivariant, compositional image-text similarity (measure, train, build, serve)."""

__version__ = "0.1.0"
