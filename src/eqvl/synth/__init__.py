"""eqvl's scene engine: sample scene -> render -> caption templates -> twins -> folder.

    from eqvl.synth import SynthConfig, generate
    manifest = generate(SynthConfig(out="data/eqsynth", twins=100, train=1000, size=64))

Lower level: `make_twin(rng, subset, cfg)`, `sample_scene(rng, subset, cfg)`,
`render_scene(scene, size)`, `check(caption, scene)`. See docs/guide/synth.md.
"""

from eqvl.synth.captions import Style, hard_negatives, hard_positives, realize
from eqvl.synth.checker import check, parse
from eqvl.synth.config import SUBSETS, SynthConfig
from eqvl.synth.logic import Count, Desc, Rel, evaluate
from eqvl.synth.render import Rendered, render_background, render_scene, render_twin
from eqvl.synth.scene import Background, Camera, Light, Obj, Scene
from eqvl.synth.twins import Twin, make_twin, sample_scene
from eqvl.synth.work_units import item_rng
from eqvl.synth.writer import generate

__all__ = [
    "SUBSETS", "Background", "Camera", "Count", "Desc", "Light", "Obj", "Rel", "Rendered", "Scene", "Style",
    "SynthConfig", "Twin", "check", "evaluate", "generate", "hard_negatives", "hard_positives", "item_rng",
    "make_twin", "parse", "realize", "render_background", "render_scene", "render_twin", "sample_scene",
]
