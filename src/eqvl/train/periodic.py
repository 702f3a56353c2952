"""Evaluation during training: score the live model on each --eval-benchmark (rank 0), no checkpoint written."""

from __future__ import annotations

import logging
from typing import Any, Callable

import torch

from eqvl.train.config import TrainConfig
from eqvl.distributed import DistInfo, barrier
from eqvl.train.logs import MetricsLog

logger = logging.getLogger(__name__)


def evaluate_benchmarks(cfg: TrainConfig, model: torch.nn.Module, bundle: Any, step: int, epoch: int,
                        log: MetricsLog | None, on_eval: Callable[[dict[str, Any]], None] | None, info: DistInfo) -> None:
    """Each benchmark's numeric metrics go to metrics.jsonl as `eval/<name>/<metric>` and to `on_eval`."""
    if info.is_main:
        from eqvl.evaluation import evaluate
        from eqvl.models.openclip import OpenClipEncoder

        if hasattr(bundle, "encoder"):  # an ITM model (hf-itm:): scored by its ITM head, as eqvl eval does
            encoder = bundle.encoder(f"{cfg.model}@{cfg.output}@step{step}")
        else:
            encoder = OpenClipEncoder.from_model(model, bundle.preprocess_val, bundle.tokenizer,
                                                 name=cfg.model or "in-memory", pretrained=f"{cfg.output}@step{step}")
        model.eval()
        try:
            rec: dict[str, Any] = {"event": "eval", "step": step, "epoch": epoch}
            for spec in cfg.eval_benchmark:
                name, path = spec.split(":", 1)
                with torch.no_grad():
                    res = evaluate(encoder, name, path, batch_size=cfg.eval_batch_size, progress=False)
                for metric, value in res.results.get("metrics", {}).items():
                    if isinstance(value, (int, float)):
                        rec[f"eval/{name}/{metric}"] = float(value)
        finally:
            model.train()
        if log is not None:
            log.log(rec)
            logger.info("eval at step %d: %s", step, ", ".join(f"{k[5:]}={v:.3f}" for k, v in rec.items() if k.startswith("eval/")))
        if on_eval is not None:
            on_eval(rec)
    barrier(info)
