"""open_clip pretrained tags without a network: fail at once with what to do, instead of minutes of
hub retries; weights already in the local cache load without touching the network."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from typing import Iterator
from urllib.parse import urlparse

from eqvl.errors import EqvlError

HUB_HOST = "huggingface.co"
PROBE_TIMEOUT_S = 3.0


def _env_offline() -> bool:
    return any(os.environ.get(k, "").strip().lower() in ("1", "true", "yes", "on")
               for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def reachable(host: str, port: int = 443, timeout: float = PROBE_TIMEOUT_S) -> bool:
    """Can a TCP connection to `host` open within `timeout` s (DNS included, which can hang on its own)?"""
    result: list[bool] = []

    def probe() -> None:
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            result.append(True)
        except OSError:
            result.append(False)

    worker = threading.Thread(target=probe, daemon=True)
    worker.start()
    worker.join(timeout + 0.5)
    return bool(result and result[0])


def _cached(cfg: dict) -> tuple[bool, str]:
    """(are the tag's weights in a local cache, which host would serve them)."""
    if cfg.get("file"):
        return True, ""
    hub = cfg.get("hf_hub", "")
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        hub = ""
    if hub:
        repo, filename = os.path.split(hub)
        names = [filename] if filename else ["open_clip_model.safetensors", "open_clip_pytorch_model.bin"]
        if filename.endswith((".bin", ".pth")):
            names.insert(0, filename[:-4] + ".safetensors")
        for name in names:
            hit = try_to_load_from_cache(repo_id=repo, filename=name)
            if isinstance(hit, str) and os.path.isfile(hit):
                return True, HUB_HOST
        return False, HUB_HOST
    url = cfg.get("url", "")
    target = os.path.join(os.path.expanduser("~/.cache/clip"), os.path.basename(url))
    return os.path.isfile(target), urlparse(url).hostname or ""


@contextlib.contextmanager
def offline_guard(name: str, tag: str | None) -> Iterator[None]:
    """Around open_clip's create call for `tag` (None or a local file path: nothing to do)."""
    if not tag or os.path.exists(tag):
        yield
        return
    import open_clip

    cfg = open_clip.get_pretrained_cfg(name, tag) or {}
    cached, host = _cached(cfg)
    offline = _env_offline() or (host and not reachable(host))
    if not offline:
        yield
        return
    if not cached:
        why = "HF_HUB_OFFLINE is set" if _env_offline() else f"{host} cannot be reached"
        raise EqvlError(f"`pretrained` {tag}: the weights of {name} ({tag}) are not in the local cache and {why}; "
                        "download them once where there is network (open_clip caches them under ~/.cache), "
                        "or pass a local checkpoint file: `pretrained` /path/to/weights.bin", params=("pretrained",))
    with _hub_offline():
        yield


@contextlib.contextmanager
def _hub_offline() -> Iterator[None]:
    """Tell huggingface_hub not to ask the network about weights it has cached."""
    try:
        from huggingface_hub import constants
    except ImportError:
        yield
        return
    old = constants.HF_HUB_OFFLINE
    constants.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        constants.HF_HUB_OFFLINE = old
