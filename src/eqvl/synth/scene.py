"""The scene graph: plain dataclasses that the sampler fills, the renderer draws and
twins.jsonl stores (`to_dict` / `from_dict` round-trip exactly, so a stored scene can be
re-rendered and re-checked later).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Obj:
    """One object standing on the ground (or on another object, `support`)."""

    category: str
    colour: str
    size: str  # "small" | "large"
    material: str  # "rubber" | "metal"
    x: float  # ground-plane position (world units); x to the right
    z: float  # ground-plane position; z away from the camera's foot point
    yaw: int = 0  # index of the pre-rendered orientation
    support: int | None = None  # index of the object it stands on, or None for the ground

    def clone(self) -> "Obj":
        """A copy (all fields are immutable values; much faster than dataclasses.replace)."""
        new = Obj.__new__(Obj)
        new.__dict__.update(self.__dict__)
        return new


@dataclass
class Camera:
    """A pinhole camera at (0, height, 0) looking along +z, tilted down by `pitch` degrees."""

    height: float = 4.0
    pitch: float = 40.0
    fov: float = 50.0


@dataclass
class Light:
    """A directional light; azimuth 0 = from the camera, 90 = from the right (degrees)."""

    azimuth: float = 30.0
    elevation: float = 50.0
    intensity: float = 0.75
    ambient: float = 0.35


@dataclass
class Background:
    """Floor and backdrop appearance; `style` picks the floor texture."""

    style: str = "plain"  # plain | checker | tiles | stripes
    floor: tuple[float, float, float] = (0.6, 0.6, 0.6)
    floor2: tuple[float, float, float] = (0.5, 0.5, 0.5)
    backdrop: tuple[float, float, float] = (0.3, 0.3, 0.35)
    scale: float = 1.0  # texture period in world units
    angle: float = 0.0  # texture rotation (degrees)
    depth: float = 14.0  # far edge of the platform (world units along z)


@dataclass
class Scene:
    objects: list[Obj] = field(default_factory=list)
    camera: Camera = field(default_factory=Camera)
    light: Light = field(default_factory=Light)
    background: Background = field(default_factory=Background)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (tuples become lists); same as dataclasses.asdict, ~10x faster."""
        bg = dict(vars(self.background))
        for key in ("floor", "floor2", "backdrop"):
            bg[key] = list(bg[key])
        return {
            "objects": [dict(vars(o)) for o in self.objects],
            "camera": dict(vars(self.camera)),
            "light": dict(vars(self.light)),
            "background": bg,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Scene":
        bg = dict(data["background"])
        for key in ("floor", "floor2", "backdrop"):
            bg[key] = tuple(bg[key])
        return cls(
            objects=[Obj(**o) for o in data["objects"]],
            camera=Camera(**data["camera"]),
            light=Light(**data["light"]),
            background=Background(**bg),
        )

    def copy(self) -> "Scene":
        """A copy whose object list can be edited without touching this scene."""
        return Scene(objects=[o.clone() for o in self.objects], camera=self.camera, light=self.light, background=self.background)
