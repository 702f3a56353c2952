"""`eqvl build review DIR`: a local page (127.0.0.1) to accept / reject a build's twins by key.

EqBen screened its natural subsets by hand (10 people). The page shows one twin at a time, both
images with their captions; `a` accepts, `r` rejects, `u` undoes, arrows move. Every decision
names its twin's id and is appended to `DIR/review/decisions.jsonl` at once (the server keeps the
current decisions in memory and never re-reads the file), so closing the page (or killing the
server) loses nothing and reopening it resumes at the first undecided twin.

Safety: only files under the build folder are served (paths in twins.jsonl must be relative and
stay inside it; each request's path is resolved, symlinks included, and refused outside it), and
requests whose Host header is not the local address are refused (DNS rebinding). `/api/twins`
is paged (`offset`, `limit`): at EqBen-AG scale (195,872 twins) the whole list is ~77 MB.
"""

# no `from __future__ import annotations` here: FastAPI must see the request model class, not a string
import threading
from pathlib import Path, PurePosixPath
from typing import Any, Optional

from eqvl.data.decisions import DECISIONS, DEFAULT_FILE, append_decision, read_decisions
from eqvl.errors import DataError, EqvlError
from eqvl.io import read_jsonl
from eqvl.videotwins.review_page import PAGE

LOCAL_HOSTS = ("127.0.0.1", "localhost")
PAGE_MAX = 1000
KEEP = ("id", "subset", "caption_0", "caption_1", "video", "rule", "frame_0", "frame_1", "time_0", "time_1")


def _inside(rel: str) -> bool:
    """A relative path with no '..' part: it cannot leave the folder (symlinks are checked per request)."""
    p = PurePosixPath(rel)
    return bool(rel) and not p.is_absolute() and "\\" not in rel and ".." not in p.parts and ":" not in p.parts[0]


def load_twins(folder: Path) -> list[dict[str, Any]]:
    path = folder / "twins.jsonl"
    if not path.is_file():
        raise DataError("not a build folder (no twins.jsonl)", path=str(folder))
    rows = []
    for line, obj in read_jsonl(path):
        for key in ("id", "image_0", "image_1", "caption_0", "caption_1"):
            if not isinstance(obj.get(key), str):
                raise DataError("missing required field", path=str(path), line=line, field=key)
        for key in ("image_0", "image_1"):
            if not _inside(obj[key]):
                raise DataError(f"image path {obj[key]!r} is not inside the build folder", path=str(path), line=line, field=key)
        rows.append(obj)
    if not rows:
        raise DataError("no twins to review", path=str(path))
    return rows


class ReviewState:
    """The twins, their current decisions (in memory, from the file once) and the counts; thread-safe."""

    def __init__(self, folder: Path, store: Path):
        self.folder, self.root, self.store = folder, folder.resolve(), store
        self.twins = load_twins(folder)
        self.index = {t["id"]: k for k, t in enumerate(self.twins)}
        self.images = {t[k] for t in self.twins for k in ("image_0", "image_1")}
        self.current = read_decisions(store)  # a damaged file is reported before the page opens
        self.lock = threading.Lock()

    def counts(self) -> dict[str, int]:
        acc = sum(1 for v in self.current.values() if v == "accept")
        rej = sum(1 for v in self.current.values() if v == "reject")
        return {"total": len(self.twins), "accepted": acc, "rejected": rej, "undecided": len(self.twins) - acc - rej}

    def decide(self, twin_id: str, decision: str) -> dict[str, Any]:
        with self.lock:  # one append at a time, in arrival order; the file is never re-read
            append_decision(self.store, twin_id, decision)
            if decision == "undo":
                self.current.pop(twin_id, None)
            else:
                self.current[twin_id] = decision
            return {"id": twin_id, "decision": self.current.get(twin_id), "counts": self.counts()}

    def next_undecided(self, after: int) -> Optional[int]:
        n = len(self.twins)
        for k in range(n):
            i = (after + k) % n
            if self.twins[i]["id"] not in self.current:
                return i
        return None

    def page(self, offset: int, limit: int) -> dict[str, Any]:
        rows = [{**{k: t[k] for k in KEEP if k in t}, "image_0": f"/img/{t['image_0']}", "image_1": f"/img/{t['image_1']}",
                 "decision": self.current.get(t["id"])} for t in self.twins[offset:offset + limit]]
        return {"folder": str(self.folder), "decisions_file": str(self.store), "total": len(self.twins), "offset": offset,
                "twins": rows, "counts": self.counts(), "first_undecided": self.next_undecided(0)}

    def image_file(self, rel: str) -> Optional[Path]:
        """The file to serve for `rel`, or None: one of the twins' images, resolved inside the folder."""
        if rel not in self.images:
            return None
        target = (self.folder / rel).resolve()
        return target if target.is_relative_to(self.root) and target.is_file() else None


def create_app(folder: str | Path, decisions: str | Path | None = None, hosts: tuple[str, ...] = LOCAL_HOSTS):
    """The FastAPI app: GET / (page), GET /api/twins (paged), GET /api/next_undecided, POST /api/decision,
    GET /img/<path> (twin images inside the folder only); requests with another Host header are refused."""
    try:
        from fastapi import FastAPI, HTTPException, Query
        from fastapi.responses import FileResponse, HTMLResponse
        from pydantic import BaseModel
        from starlette.middleware.trustedhost import TrustedHostMiddleware
    except ImportError:
        raise EqvlError("the review page needs FastAPI and uvicorn: pip install 'eqvl[serve]'") from None

    folder = Path(folder)
    state = ReviewState(folder, Path(decisions) if decisions else folder / DEFAULT_FILE)

    class Decision(BaseModel):
        id: str
        decision: str

    app = FastAPI(title="eqvl build review", docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(hosts))

    @app.get("/", response_class=HTMLResponse)
    def page() -> str:
        return PAGE

    @app.get("/api/twins")
    def list_twins(offset: int = Query(0, ge=0), limit: int = Query(200, ge=1, le=PAGE_MAX)) -> dict[str, Any]:
        return state.page(offset, limit)

    @app.get("/api/next_undecided")
    def next_undecided(after: int = Query(0, ge=0)) -> dict[str, Any]:
        return {"index": state.next_undecided(after)}

    @app.post("/api/decision")
    def decide(body: Decision) -> dict[str, Any]:
        if body.id not in state.index:
            raise HTTPException(status_code=404, detail=f"no twin with id {body.id!r}")
        if body.decision not in DECISIONS:
            raise HTTPException(status_code=422, detail=f"decision must be one of {', '.join(DECISIONS)}")
        return state.decide(body.id, body.decision)

    @app.get("/img/{path:path}")
    def image(path: str):
        target = state.image_file(path)
        if target is None:  # only the build's own twin images inside its folder, never an arbitrary file
            raise HTTPException(status_code=404, detail="not an image of this build")
        return FileResponse(target)

    return app


def serve(folder: str | Path, port: int = 8765, decisions: str | Path | None = None, host: str = "127.0.0.1") -> None:
    import socket

    import uvicorn

    app = create_app(folder, decisions, hosts=tuple(dict.fromkeys((host,) + LOCAL_HOSTS)))
    with socket.socket() as probe:  # a busy port is a one-line error, not uvicorn's traceback
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise EqvlError(f"cannot listen on {host}:{port} ({exc.strerror}); pass another `port`", params=("port",)) from None
    print(f"reviewing {folder}: open http://{host}:{port}/  (a accept, r reject, u undo, arrows move; Ctrl-C stops)")
    uvicorn.run(app, host=host, port=port, log_level="warning")
