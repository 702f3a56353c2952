"""`eqvl index serve`: a JSON API and a search page over one opened index (FastAPI + uvicorn).

    GET  /search?text=...&k=10&where=key=value   text query (where repeatable)
    POST /search                                  multipart: image=<file>, k, where
    GET  /thumb/{id}                              thumbnail of an indexed id (nothing else is served)
    GET  /health                                  count, generation, model, index type
    GET  /                                        the page: search box, image upload, filter, result grid

Needs the `serve` extra (fastapi, uvicorn, python-multipart); imported only by `eqvl index serve`.
No file path taken from a request ever reaches the file system: thumbnails are looked up by
integer id in the index's own metadata. Every error is JSON `{"error": ...}` with a 4xx status.
Each request runs on the newest committed generation (`eqvl.index.live`), so writes by
`eqvl index add/remove` show at the next request; `eqvl.index.guard` checks Host, Origin, the
API key and the body size before any route runs; uploads are decoded under a pixel cap.
"""

from __future__ import annotations

import io
import logging
import socket
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from eqvl.errors import EqvlError
from eqvl.index.core import MAX_TEXT_CHARS, Index, describe_model
from eqvl.index.guard import Guard, JsonH11Protocol, Policy
from eqvl.index.live import LiveIndex
from eqvl.index.page import PAGE_HTML

if TYPE_CHECKING:
    from eqvl.models.base import Encoder, PairScorer

log = logging.getLogger(__name__)
#: ids are SQLite integers: anything outside [0, 2**63) cannot be one
MAX_ID = 2**63 - 1


@dataclass
class Limits:
    max_k: int = 100
    max_upload_bytes: int = 10 * 1024 * 1024
    #: decoded pixels of a query image (16 MP: 48 MB as RGB), checked before the pixels are decoded
    max_image_pixels: int = 16 * 1024 * 1024
    max_text_chars: int = MAX_TEXT_CHARS
    thumb_px: int = 256
    thumb_cache: int = 2048


class _Thumbs:
    """Small JPEG thumbnails by (id, path), kept in an LRU (the same hits are shown again and again);
    the id is looked up in the generation the request runs on, so a removed id is 404 at once."""

    def __init__(self, limits: Limits):
        self.limits = limits
        self._cache: OrderedDict[tuple[int, str], bytes] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, idx: Index, id_: int) -> bytes | None:
        path = idx.image_path(id_)  # only ids present in the index have a path
        if path is None:
            return None
        key = (id_, path)
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        from eqvl.data.images import load_image
        from eqvl.data.records import ImageRef

        image = load_image(ImageRef(path))
        image.thumbnail((self.limits.thumb_px, self.limits.thumb_px))
        out = io.BytesIO()
        image.save(out, format="JPEG", quality=85)
        data = out.getvalue()
        with self._lock:
            self._cache[key] = data
            while len(self._cache) > self.limits.thumb_cache:
                self._cache.popitem(last=False)
        return data


class ClientError(Exception):
    """A bad request: answered as JSON `{"error": message}` with `status`."""

    def __init__(self, status: int, message: str):
        self.status, self.message = status, message


def _error_handlers(app: FastAPI) -> None:
    """Every error leaves as one JSON line with a 4xx status (5xx only for a bug), never a traceback."""

    @app.exception_handler(ClientError)
    async def _client(_, exc: ClientError):
        return JSONResponse({"error": exc.message}, status_code=exc.status)

    @app.exception_handler(EqvlError)
    async def _eqvl(_, exc: EqvlError):
        return JSONResponse({"error": str(exc)}, status_code=400)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_, exc: RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p not in ("query", "path", "body"))
        return JSONResponse({"error": f"{where or 'request'}: {first.get('msg', 'invalid')}"}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_, exc: StarletteHTTPException):
        return JSONResponse({"error": str(exc.detail)}, status_code=exc.status_code)

    @app.exception_handler(Exception)
    async def _internal(_, exc: Exception):
        return JSONResponse({"error": f"internal error ({type(exc).__name__})"}, status_code=500)


class _Service:
    """What the routes do, on the generation each request holds (thread-safe: called from the pool)."""

    def __init__(self, live: LiveIndex, limits: Limits, rerank_model: Encoder | PairScorer | None, rerank_k: int):
        self.live, self.limits, self.rerank_model, self.rerank_k = live, limits, rerank_model, rerank_k
        self.thumbs = _Thumbs(limits)

    def check_k(self, k: int) -> int:
        if k <= 0 or k > self.limits.max_k:
            raise ClientError(400, f"k must be between 1 and {self.limits.max_k}, got {k}")
        return k

    def query(self, texts, images, k: int, where: list[str], rerank: bool) -> dict[str, Any]:
        started = time.perf_counter()
        use_rerank = rerank and self.rerank_model is not None
        if use_rerank and self.rerank_k < k:
            raise ClientError(400, f"k ({k}) is over the server's --rerank-k ({self.rerank_k}): re-ranking cannot "
                                   "return more hits than it re-scores")
        with self.live.use() as current:
            hits = current.search(texts=texts, images=images, k=k, where=where or None,
                                  rerank_model=self.rerank_model if use_rerank else None, rerank_k=self.rerank_k)[0]
            generation = current.generation.name
        took = (time.perf_counter() - started) * 1000
        return {"k": k, "where": where, "count": len(hits), "took_ms": round(took, 2), "generation": generation,
                "reranked": bool(use_rerank), "hits": [{**h.to_dict(), "thumb": f"/thumb/{h.id}"} for h in hits]}

    def health(self) -> dict[str, Any]:
        with self.live.use() as current:
            return {"status": "ok", "count": current.count, "generation": current.generation.name,
                    "dim": current.dim, "model": describe_model(current.model), "index": current.spec.kind,
                    "factory": current.spec.factory, "columns": current.columns(), "max_k": self.limits.max_k,
                    "rerank": self.rerank_model is not None, "reload_error": self.live.last_error or None}

    def thumb(self, id_: int) -> bytes | None:
        with self.live.use() as current:
            return self.thumbs.get(current, id_)


def create_app(idx: Index | LiveIndex, limits: Limits | None = None, rerank_model: Encoder | PairScorer | None = None,
               rerank_k: int = 100, policy: Policy | None = None) -> Any:
    """The ASGI application: FastAPI routes inside the `Guard` (tests run it under a real uvicorn)."""
    limits = limits or Limits()
    live = idx if isinstance(idx, LiveIndex) else LiveIndex(idx)
    policy = policy or Policy(max_body=limits.max_upload_bytes + 64 * 1024)
    app = FastAPI(title="eqvl index", docs_url=None, redoc_url=None, openapi_url=None)
    _error_handlers(app)
    service = _Service(live, limits, rerank_model, rerank_k)
    live.current.encoder  # load the query model before the first request, not during it

    @app.get("/health")
    async def health():
        return await run_in_threadpool(service.health)

    @app.get("/search")
    async def search_text(text: str = "", k: int = 10, where: list[str] = Query(default=[]), rerank: bool = False):
        if not text.strip():
            raise ClientError(400, "the query text is empty (use ?text=...)")
        if len(text) > limits.max_text_chars:
            raise ClientError(400, f"the query text is {len(text)} characters; the limit is {limits.max_text_chars}")
        result = await run_in_threadpool(service.query, [text], None, service.check_k(k), list(where or []), rerank)
        return {"query": {"text": text}, **result}

    @app.post("/search")
    async def search_image(request: Request):
        form = await request.form(max_files=1, max_fields=20)
        upload = form.get("image")
        if upload is None or not hasattr(upload, "read"):
            raise ClientError(400, "no image in the form (field 'image')")
        data = await upload.read(limits.max_upload_bytes + 1)
        if len(data) > limits.max_upload_bytes:
            raise ClientError(413, f"upload is over the limit of {limits.max_upload_bytes} bytes")
        image = await run_in_threadpool(decode_upload, data, limits.max_image_pixels)
        k = _form_int(form.get("k", "10"), ClientError)
        where = [w for w in form.getlist("where") if isinstance(w, str) and w.strip()]
        rerank = str(form.get("rerank", "")).lower() in ("1", "true", "on", "yes")
        result = await run_in_threadpool(service.query, None, [image], service.check_k(k), where, rerank)
        return {"query": {"image": getattr(upload, "filename", "") or "upload"}, **result}

    @app.get("/thumb/{id_}")
    async def thumb(id_: int):
        if not 0 <= id_ <= MAX_ID:
            raise ClientError(404, f"no image with id {id_} in this index")
        try:
            data = await run_in_threadpool(service.thumb, id_)
        except EqvlError:
            raise ClientError(404, f"the image of id {id_} can no longer be read") from None
        if data is None:
            raise ClientError(404, f"no image with id {id_} in this index")
        return Response(content=data, media_type="image/jpeg", headers={"Cache-Control": "no-cache"})

    @app.get("/", response_class=HTMLResponse)
    async def page():
        return HTMLResponse(PAGE_HTML)

    return Guard(app, policy)


def decode_upload(data: bytes, max_pixels: int) -> Any:
    """A query image from uploaded bytes; its size is checked from the header, before decoding."""
    from PIL import Image, UnidentifiedImageError

    if not data:
        raise ClientError(400, "the uploaded image is empty")
    try:
        with Image.open(io.BytesIO(data)) as handle:
            width, height = handle.size
            if width * height > max_pixels:
                raise ClientError(413, f"the uploaded image is {width}x{height} pixels; the limit is {max_pixels} "
                                       "pixels (scale it down)")
            handle.load()
            return handle.convert("RGB")
    except Image.DecompressionBombError:
        raise ClientError(413, f"the uploaded image is over the limit of {max_pixels} pixels") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise ClientError(400, f"the uploaded file is not a readable image ({type(exc).__name__})") from None


def _form_int(value: Any, error: type) -> int:
    try:
        return int(str(value))
    except ValueError:
        raise error(422, f"k: not an integer: {str(value)[:20]!r}") from None


def bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound before anything says we serve (a taken port is a one-line error)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise EqvlError(f"cannot listen on {host}:{port} ({exc.strerror or exc})") from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def serve(idx: Index, host: str = "127.0.0.1", port: int = 8000, limits: Limits | None = None,
          rerank_model: Encoder | PairScorer | None = None, rerank_k: int = 100, policy: Policy | None = None,
          announce: Any = None) -> None:
    """Bind, then `announce(line)` (the CLI prints it), then serve until interrupted."""
    import uvicorn

    limits = limits or Limits()
    sock = bind(host, port)  # a taken port fails before the model loads and before anything is announced
    try:
        app = create_app(idx, limits, rerank_model, rerank_k, policy)
    except BaseException:
        sock.close()
        raise
    config = uvicorn.Config(app, log_level="warning", http=JsonH11Protocol)
    shown = f"[{host}]" if ":" in host else host
    line = f"eqvl index: serving {idx.root} ({idx.count} images, {idx.generation.name}) on http://{shown}:{port}/"
    (announce or log.warning)(line)
    uvicorn.Server(config).run(sockets=[sock])
