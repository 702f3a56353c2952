"""`eqvl build review DIR`: a local page (127.0.0.1) to accept / reject a build's twins by key.

EqBen screened its natural subsets by hand (10 people). The page shows one twin at a time, both
images with their captions; `a` accepts, `r` rejects, `u` undoes, arrows move. Every decision is
appended to `DIR/review/decisions.jsonl` at once, so closing the page (or killing the server)
loses nothing and reopening it resumes at the first undecided twin.
"""

# no `from __future__ import annotations` here: FastAPI must see the request model class, not a string
from pathlib import Path
from typing import Any

from eqvl.data.decisions import DECISIONS, DEFAULT_FILE, append_decision, read_decisions
from eqvl.videotwins.review_page import PAGE
from eqvl.errors import DataError, EqvlError
from eqvl.io import read_jsonl


def load_twins(folder: Path) -> list[dict[str, Any]]:
    path = folder / "twins.jsonl"
    if not path.is_file():
        raise DataError("not a build folder (no twins.jsonl)", path=str(folder))
    rows = []
    for line, obj in read_jsonl(path):
        for key in ("id", "image_0", "image_1", "caption_0", "caption_1"):
            if not isinstance(obj.get(key), str):
                raise DataError("missing required field", path=str(path), line=line, field=key)
        rows.append(obj)
    if not rows:
        raise DataError("no twins to review", path=str(path))
    return rows


def create_app(folder: str | Path, decisions: str | Path | None = None):
    """The FastAPI app: GET / (page), GET /api/twins, POST /api/decision, GET /img/<path> (twin images only)."""
    try:
        from fastapi import FastAPI, HTTPException
        from fastapi.responses import FileResponse, HTMLResponse
        from pydantic import BaseModel
    except ImportError:
        raise EqvlError("the review page needs FastAPI and uvicorn: pip install 'eqvl[serve]'") from None

    folder = Path(folder)
    twins = load_twins(folder)
    by_id = {t["id"]: t for t in twins}
    images = {t[k] for t in twins for k in ("image_0", "image_1")}
    store = Path(decisions) if decisions else folder / DEFAULT_FILE
    read_decisions(store)  # a damaged file is reported before the page opens

    class Decision(BaseModel):
        id: str
        decision: str

    app = FastAPI(title="eqvl build review", docs_url=None, redoc_url=None)

    def counts(current: dict[str, str]) -> dict[str, int]:
        acc = sum(1 for v in current.values() if v == "accept")
        rej = sum(1 for v in current.values() if v == "reject")
        return {"total": len(twins), "accepted": acc, "rejected": rej, "undecided": len(twins) - acc - rej}

    @app.get("/", response_class=HTMLResponse)
    def page() -> str:
        return PAGE

    @app.get("/api/twins")
    def list_twins() -> dict[str, Any]:
        current = read_decisions(store)
        keep = ("id", "subset", "caption_0", "caption_1", "video", "rule", "frame_0", "frame_1", "time_0", "time_1")
        rows = [{**{k: t[k] for k in keep if k in t}, "image_0": f"/img/{t['image_0']}", "image_1": f"/img/{t['image_1']}",
                 "decision": current.get(t["id"])} for t in twins]
        return {"folder": str(folder), "decisions_file": str(store), "twins": rows, "counts": counts(current)}

    @app.post("/api/decision")
    def decide(body: Decision) -> dict[str, Any]:
        if body.id not in by_id:
            raise HTTPException(status_code=404, detail=f"no twin with id {body.id!r}")
        if body.decision not in DECISIONS:
            raise HTTPException(status_code=422, detail=f"decision must be one of {', '.join(DECISIONS)}")
        append_decision(store, body.id, body.decision)
        current = read_decisions(store)
        return {"id": body.id, "decision": current.get(body.id), "counts": counts(current)}

    @app.get("/img/{path:path}")
    def image(path: str):
        if path not in images:  # only the build's own twin images, never an arbitrary file
            raise HTTPException(status_code=404, detail="not an image of this build")
        return FileResponse(folder / path)

    return app


def serve(folder: str | Path, port: int = 8765, decisions: str | Path | None = None, host: str = "127.0.0.1") -> None:
    import socket

    import uvicorn

    app = create_app(folder, decisions)
    with socket.socket() as probe:  # a busy port is a one-line error, not uvicorn's traceback
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise EqvlError(f"cannot listen on {host}:{port} ({exc.strerror}); pass another --port") from None
    print(f"reviewing {folder}: open http://{host}:{port}/  (a accept, r reject, u undo, arrows move; Ctrl-C stops)")
    uvicorn.run(app, host=host, port=port, log_level="warning")
