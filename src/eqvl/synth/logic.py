"""What a caption means, as data: statements over a scene graph, and their truth.

Captions are rendered from these statements (captions.py) and parsed back into them
(checker.py); `evaluate` decides truth from the scene graph alone. Truth is three-valued
(True / False / None = ambiguous), so a rewrite is only used as a hard positive when
True and as a hard negative when False.
"""

from __future__ import annotations

from dataclasses import dataclass

from eqvl.synth import geometry as geo
from eqvl.synth.scene import Obj, Scene


@dataclass(frozen=True)
class Desc:
    """A noun phrase: category plus optional colour and size ("the large red cube")."""

    category: str
    colour: str | None = None
    size: str | None = None

    def matches(self, obj: Obj) -> bool:
        return (
            obj.category == self.category
            and (self.colour is None or obj.colour == self.colour)
            and (self.size is None or obj.size == self.size)
        )


@dataclass(frozen=True)
class Rel:
    """"The A is <rel> the B."""

    a: Desc
    rel: str
    b: Desc


@dataclass(frozen=True)
class Count:
    """"There are <n> <desc>s."""

    desc: Desc
    n: int


Statement = Rel | Count


def resolve(desc: Desc, scene: Scene) -> int | bool | None:
    """The index of the unique object matching `desc`; False if none; None if several."""
    hits = [i for i, obj in enumerate(scene.objects) if desc.matches(obj)]
    if not hits:
        return False
    if len(hits) > 1:
        return None
    return hits[0]


def evaluate(stmt: Statement, scene: Scene) -> bool | None:
    """Truth of a statement in a scene: True, False, or None (ambiguous)."""
    if isinstance(stmt, Count):
        return sum(stmt.desc.matches(obj) for obj in scene.objects) == stmt.n
    a, b = resolve(stmt.a, scene), resolve(stmt.b, scene)
    if a is False or b is False:
        return False  # the description fits nothing: the caption is false of this scene
    if a is None or b is None:
        return None
    return geo.relation(scene, a, b, stmt.rel)
