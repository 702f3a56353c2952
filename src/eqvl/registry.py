"""One plugin mechanism for every "name -> class" table in eqvl (losses, benchmarks).

Each plugin module decorates its class with `registry.register("name")`; the registry holds
an explicit, ordered list of those modules and imports them on the first lookup.

Why an explicit list and not discovery (`pkgutil` over the package folder): the list is the
one place a reader sees every plugin (the CLI's `COMMANDS` works the same way); a listed
module that is missing fails loudly instead of being skipped; a stray or half-written file in
the folder is never imported by accident; and importing the package stays cheap until a name
is looked up. Forgetting to list a new module is caught by `tests/test_layout.py`, which
checks that every module using the decorator is listed.

The one discovering registry is the losses' (`modules=None`): a loss term is one file that
declares everything about itself, so adding one touches that file only; the layout test checks
that every module of `eqvl.losses` outside its infrastructure registers a term.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Callable, Generic, Sequence, TypeVar

from eqvl.errors import EqvlError

T = TypeVar("T", bound=type)


class Registry(Generic[T]):
    """Maps names to classes for one kind of plugin (`kind` names it in error messages)."""

    def __init__(self, kind: str, package: str, modules: Sequence[str] | None, skip: Sequence[str] = ()):
        self.kind = kind
        self.package = package
        #: the plugin modules, relative to `package`, imported in this order on first lookup;
        #: None: every module of the package but `skip` and private ones, in name order
        self.modules = tuple(modules) if modules is not None else None
        self.skip = tuple(skip)
        self._classes: dict[str, T] = {}
        self._loaded = False

    def register(self, name: str) -> Callable[[T], T]:
        """Class decorator: make `cls` available under `name` (a repeated name is an error)."""

        def wrap(cls: T) -> T:
            if name in self._classes:
                raise ValueError(f"{self.kind} {name!r} registered twice")
            self._classes[name] = cls
            return cls

        return wrap

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True  # set first: a plugin module may look a name up while it is imported
        try:
            for module in self.module_names():
                importlib.import_module(f"{self.package}.{module}")
        except BaseException:
            self._loaded = False  # a failed import is reported again on the next lookup
            raise

    def module_names(self) -> tuple[str, ...]:
        if self.modules is not None:
            return self.modules
        package = importlib.import_module(self.package)
        found = (m.name for m in pkgutil.iter_modules(package.__path__))
        return tuple(sorted(n for n in found if not n.startswith("_") and n not in self.skip))

    def get(self, name: str) -> T:
        """The class registered as `name`; an unknown name is a user error listing the valid ones."""
        self._load()
        if name not in self._classes:
            raise EqvlError(f"unknown {self.kind} {name!r}; available: {', '.join(sorted(self._classes))}")
        return self._classes[name]

    def classes(self) -> dict[str, T]:
        """Every registered name -> class, sorted by name."""
        self._load()
        return dict(sorted(self._classes.items()))
