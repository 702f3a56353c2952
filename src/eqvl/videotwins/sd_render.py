"""Render EQ-SD-style caption pairs with a local diffusers pipeline (`--render diffusers:DIR`).

Both captions of a pair are drawn in one batch from the *same* initial noise (one seeded latent,
repeated), so the two images differ only through the prompt. (EqBen used Stable Diffusion 1.4
with prompt-to-prompt editing; plain shared noise is the part any local pipeline supports.)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from eqvl.errors import EqvlError
from eqvl.io import atomic_open


@dataclass
class RenderConfig:
    size: int = 512
    steps: int = 30
    guidance: float = 7.5
    device: str = "cpu"


def load_pipeline(path: str | Path, device: str = "cpu") -> Any:
    try:
        from diffusers import DiffusionPipeline
    except ImportError:
        raise EqvlError("`render` diffusers: needs the diffusers package: pip install 'eqvl[diffusers]'", params=("render",)) from None
    try:
        pipe = DiffusionPipeline.from_pretrained(str(path), local_files_only=True)
    except (OSError, ValueError) as exc:
        raise EqvlError(f"`render`: cannot load a diffusers pipeline from {path}: {exc}", params=("render",)) from None
    pipe = pipe.to(device)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def render_pair(pipe: Any, caption_0: str, caption_1: str, seed: int, cfg: RenderConfig) -> list:
    """Two PIL images of the two captions from one seeded initial latent."""
    import torch

    scale = getattr(pipe, "vae_scale_factor", 8)
    channels = pipe.unet.config.in_channels
    generator = torch.Generator(device="cpu").manual_seed(int(seed))
    latent = torch.randn((1, channels, cfg.size // scale, cfg.size // scale), generator=generator)
    latents = latent.repeat(2, 1, 1, 1).to(device=pipe.device, dtype=pipe.unet.dtype)
    out = pipe(prompt=[caption_0, caption_1], latents=latents, height=cfg.size, width=cfg.size,
               num_inference_steps=cfg.steps, guidance_scale=cfg.guidance, output_type="pil")
    return list(out.images)


def render_rows(pipe: Any, rows: list[dict], out: Path, cfg: RenderConfig, progress: bool = True) -> list[dict]:
    """Render every pair (skipping pairs whose two images already exist: resumable); returns twins rows."""
    twins = []
    for row in tqdm(rows, desc="rendering", unit="pair", disable=not progress):
        stem = row["id"].replace("/", "_")
        rels = [f"images/{stem}_{k}.png" for k in (0, 1)]
        if not all((out / r).is_file() for r in rels):
            images = render_pair(pipe, row["caption_0"], row["caption_1"], row["seed"], cfg)
            for rel, image in zip(rels, images):
                with atomic_open(out / rel, "wb") as handle:
                    image.save(handle, format="PNG")
        twins.append({**{k: row[k] for k in ("id", "subset", "caption_0", "caption_1")}, "image_0": rels[0], "image_1": rels[1],
                      "rule": f"sd:{row['aspect']}_change,same_seed_and_noise", "aspect": row["aspect"], "seed": row["seed"]})
    return twins


def build_sd(out: str | Path, n: int, seed: int = 0, render: str | None = None, cfg: RenderConfig | None = None,
             overwrite: bool = False, resume: bool = False, export: tuple[str, ...] = (), progress: bool = True) -> dict[str, Any]:
    """pairs.jsonl (+ images/ and twins.jsonl when rendering, + the EqBen export) and manifest.json."""
    from eqvl.videotwins.pipeline import BuildConfig, prepare_out
    from eqvl.videotwins.sd_pairs import aspect_counts, make_pairs, parse_render
    from eqvl.io import write_json_atomic, write_jsonl_atomic

    cfg = cfg or RenderConfig()
    where = parse_render(render) if render else None
    rows = make_pairs(n, seed)
    identity = {"subset": "sd", "settings": {"n": n, "seed": seed, "render": str(where) if where else None,
                                             "size": cfg.size, "steps": cfg.steps, "guidance": cfg.guidance}}
    folder = prepare_out(BuildConfig(out=str(out), overwrite=overwrite, resume=resume).validate(), identity)
    write_jsonl_atomic(folder / "pairs.jsonl", rows)
    manifest: dict[str, Any] = {"dataset": "sd", "counts": {"pairs": len(rows), "aspects": aspect_counts(rows),
                                                            "repeated_captions": sum(1 for r in rows if r.get("repeat"))},
                                "settings": identity["settings"], "files": {"pairs": "pairs.jsonl"}}
    if where is not None:
        pipe = load_pipeline(where, cfg.device)
        twins = render_rows(pipe, rows, folder, cfg, progress)
        write_jsonl_atomic(folder / "twins.jsonl", twins)
        manifest["files"].update(twins="twins.jsonl", images="images/")
        if "eqben" in export:
            from eqvl.videotwins.export import export_eqben

            manifest["files"]["eqben"] = export_eqben(folder, twins, "sd")
    elif export:
        raise EqvlError("`export` needs images: add `render` diffusers:DIR", params=("export", "render"))
    write_json_atomic(folder / "manifest.json", manifest)
    return manifest
