"""open_clip's `--aug-cfg KEY=VALUE ...`: the training augmentation, as the `aug_cfg` dict that
open_clip's `image_transform` takes (its `AugmentationCfg` fields).

Values are read as open_clip's `ParseKwargs` reads them (a Python literal, else the text itself) and
checked here, before a model is built: an unknown key or a value open_clip would choke on (or assert on
mid-run) is one line. Keys that open_clip's chosen transform ignores are named once, as open_clip
warns: without `use_timm=True` its own transform reads only scale, color_jitter (with
color_jitter_prob) and gray_scale_prob; timm's `create_transform` drops color_jitter_prob and
gray_scale_prob.
"""

from __future__ import annotations

import ast
import importlib.util
import math
from typing import Any

from eqvl.errors import EqvlError

#: open_clip.transform.AugmentationCfg's fields (checked against open_clip in tests/test_open_clip_flags.py)
AUG_KEYS = ("scale", "ratio", "color_jitter", "re_prob", "re_count", "use_timm", "color_jitter_prob",
            "gray_scale_prob")


def _bad(key: str, value: Any, want: str) -> EqvlError:
    return EqvlError(f"`aug_cfg` {key}={value!r}: expected {want}", param="aug_cfg")


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _numbers(v: Any, sizes: tuple[int, ...]) -> bool:
    return isinstance(v, (tuple, list)) and len(v) in sizes and all(_number(x) and x >= 0 for x in v)


def parse_aug_cfg(items: list[str]) -> dict[str, Any]:
    """KEY=VALUE items -> the checked dict (a literal is evaluated, anything else kept as text, as open_clip)."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise EqvlError(f"`aug_cfg` item {item!r}: expected KEY=VALUE, e.g. scale='(0.5, 1.0)'", param="aug_cfg")
        try:
            out[key] = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            out[key] = text
    check_aug_cfg(out)
    return out


def check_aug_cfg(cfg: dict[str, Any]) -> None:
    """One line for an unknown key or a value of the wrong kind; `use_timm` needs the timm package."""
    for key, v in cfg.items():
        if key not in AUG_KEYS:
            raise EqvlError(f"`aug_cfg` key {key!r}: not one of open_clip's ({', '.join(AUG_KEYS)})", param="aug_cfg")
        if key == "scale" and not (_numbers(v, (2,)) and 0 < v[0] <= v[1] <= 1):
            raise _bad(key, v, "(low, high) with 0 < low <= high <= 1, the fraction of the image area kept")
        if key == "ratio" and not (_numbers(v, (2,)) and 0 < v[0] <= v[1]):
            raise _bad(key, v, "(low, high) aspect ratios with 0 < low <= high")
        if key == "color_jitter" and not ((_number(v) and v >= 0) or _numbers(v, (3, 4))):
            raise _bad(key, v, "a number >= 0 or (brightness, contrast, saturation[, hue])")
        if key in ("re_prob", "color_jitter_prob", "gray_scale_prob") and not (_number(v) and 0 <= v <= 1):
            raise _bad(key, v, "a probability in [0, 1]")
        if key == "re_count" and not (isinstance(v, int) and not isinstance(v, bool) and v >= 1):
            raise _bad(key, v, "an integer >= 1")
        if key == "use_timm" and not isinstance(v, bool):
            raise _bad(key, v, "True or False")
    if cfg.get("color_jitter_prob") and not cfg.get("use_timm") and not _numbers(cfg.get("color_jitter"), (4,)):
        raise EqvlError("`aug_cfg` color_jitter_prob needs color_jitter=(brightness, contrast, saturation, hue) "
                        "(open_clip's own transform asserts it)", param="aug_cfg")
    if cfg.get("use_timm") and importlib.util.find_spec("timm") is None:
        raise EqvlError("`aug_cfg` use_timm=True needs the timm package (pip install timm)", param="aug_cfg")


def ignored_keys(cfg: dict[str, Any]) -> list[str]:
    """The keys open_clip's chosen transform does not read (open_clip warns about them)."""
    if cfg.get("use_timm"):
        return [k for k in ("color_jitter_prob", "gray_scale_prob") if cfg.get(k) is not None]
    ignored = [k for k in ("ratio", "re_prob", "re_count") if cfg.get(k) is not None]
    if cfg.get("color_jitter") is not None and not cfg.get("color_jitter_prob"):
        ignored.append("color_jitter")
    return ignored
