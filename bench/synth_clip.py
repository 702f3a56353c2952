"""Real text-to-image embeddings for bench_index.py, made offline: a tiny CLIP trained on eqvl's
synthetic scenes (the demo's --quick pre-training: 1,500 scenes, 60 steps, 64 px), then N scenes
rendered in memory (`eqvl.synth`, 64 px, seeds disjoint from the training data) and embedded as
images (the database), captions of Q held-out scenes (another seed) embedded as text (the
queries), and captions of database scenes (the tuner's queries, which the evaluation never sees).

Everything is cached under --cache-dir, keyed by N and the model: the vectors are written in the
index's own shard format (vec-*.npy float16 + ids-*.npy), so VectorStore reads them in place.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
from PIL import Image

CHUNK = 50_000
DB_SEED, QUERY_SEED = 1000, 2000


def _model(cache: Path, progress: bool, train_steps: int):
    """The demo's quick pre-trained tiny CLIP, `train_steps` steps (trained once, then reused from the cache)."""
    import dataclasses

    from eqvl.demo import preset, steps
    from eqvl.io import write_json_atomic
    from eqvl.models import load_encoder

    cfg = preset(quick=True)
    cfg.pretrain = dataclasses.replace(cfg.pretrain, steps=train_steps, warmup=min(cfg.pretrain.warmup, train_steps // 3))
    model_cfg = cache / "model.json"
    done = cache / f"model-s{train_steps}" / "done.json"
    if not done.exists():
        started = time.perf_counter()
        write_json_atomic(model_cfg, cfg.model)
        if not (cache / "train_data" / "train.csv").exists():
            steps.make_data(cfg, cache / "train_data", progress=progress)
        info = steps.train_phase(cfg, done.parent, cache / "train_data", model_cfg, None, "itc", cfg.pretrain, 0,
                                 {}, progress)
        write_json_atomic(done, {"checkpoint": info["checkpoint"], "seconds": time.perf_counter() - started})
    ckpt = done.parent / json.loads(done.read_text())["checkpoint"]
    return load_encoder(str(model_cfg), str(ckpt)), str(ckpt)


def _scenes(seed: int, n: int):
    """(PIL image, caption) of n scenes from `seed` (the demo's scene settings)."""
    from eqvl.demo.config import DEMO_SCENES
    from eqvl.synth import SynthConfig, item_rng, make_twin, render_scene
    from eqvl.synth.work_units import train_subset

    opts = dict(DEMO_SCENES)
    cfg = SynthConfig(size=64, relations=tuple(opts["relations"]), distractors=tuple(opts["distractors"]), seed=seed)
    mix = cfg.mix()
    for i in range(n):
        rng = item_rng(seed, "train", "", i)
        twin = make_twin(rng, train_subset(rng, mix), cfg)
        yield Image.fromarray(render_scene(twin.scenes[0], 64, masks=False).image), twin.captions[0]


def _embed_images(encoder, images) -> np.ndarray:
    import torch

    with torch.no_grad():
        pixels = torch.stack([encoder.preprocess(im) for im in images])
        return encoder.encode_images(pixels).float().numpy()


def _embed_texts(encoder, texts) -> np.ndarray:
    from eqvl.encode import EncodeConfig, encode_texts

    return np.asarray(encode_texts(encoder, list(texts), EncodeConfig(progress=False)).emb, dtype=np.float32)


def synth_clip(cache_root: Path, n: int, n_queries: int = 1000, progress: bool = True, train_steps: int = 60):
    """(vec_dir, stems, dim, queries, tune_queries, info); builds what the cache lacks."""
    from eqvl.index.vectors import write_ids, write_vectors

    cache_root.mkdir(parents=True, exist_ok=True)
    encoder, ckpt = _model(cache_root, progress, train_steps)
    folder = cache_root / f"s{train_steps}-n{n}"
    vec_dir = folder / "vectors"
    stems, captions = [], []
    started = time.perf_counter()
    for c, start in enumerate(range(0, n, CHUNK)):
        stem = f"{c:06d}"
        stems.append(stem)
        cap_file = folder / f"captions-{stem}.json"
        if (vec_dir / f"ids-{stem}.npy").exists() and cap_file.exists():
            captions += json.loads(cap_file.read_text())[:200]
            continue
        rows, caps = [], []
        batch = []
        for j, (im, cap) in enumerate(_scenes(DB_SEED + c, min(CHUNK, n - start))):
            batch.append(im)
            caps.append(cap)
            if len(batch) == 512:
                rows.append(_embed_images(encoder, batch))
                batch = []
        if batch:
            rows.append(_embed_images(encoder, batch))
        emb = np.concatenate(rows)
        write_vectors(vec_dir, stem, emb / np.linalg.norm(emb, axis=1, keepdims=True))
        cap_file.write_text(json.dumps(caps))
        write_ids(vec_dir, stem, np.arange(start, start + len(emb), dtype=np.int64))  # last: marks the chunk done
        captions += caps[:200]
        if progress:
            print(f"synth-clip: {start + len(emb):,}/{n:,} scenes embedded ({time.perf_counter() - started:.0f} s)",
                  flush=True)
    qfile = folder / f"queries-{n_queries}.npy"
    if not qfile.exists():
        np.save(qfile, _embed_texts(encoder, [cap for _, cap in _scenes(QUERY_SEED, n_queries)]))
    tune = _embed_texts(encoder, captions[:200])
    info = {"model": f"demo quick pre-train, {train_steps} steps (eqvl-tiny-rn, width 16, 64 px)", "checkpoint": ckpt,
            "dim": int(np.load(qfile).shape[1])}
    return vec_dir, stems, info["dim"], np.load(qfile), tune, info
