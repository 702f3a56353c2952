"""`eqvl demo`: reproduce the EqBen / EqSim / hard-positive claims on data eqvl makes itself.

Steps (each cached by a hash of its config, see `step_cache.py`): synth data -> pre-train one
small model -> fine-tune variants x seeds -> evaluate -> verdicts (`claims.py`) -> report.
"""

from eqvl.demo.config import DemoConfig, preset

__all__ = ["DemoConfig", "preset"]
