"""`eqvl index serve`: a JSON API and a search page over one opened index (FastAPI + uvicorn).

    GET  /search?text=...&k=10&where=key=value   text query (where repeatable)
    POST /search                                  multipart: image=<file>, k, where
    GET  /thumb/{id}                              thumbnail of an indexed id (nothing else is served)
    GET  /health                                  count, model, index type
    GET  /                                        the page: search box, image upload, filter, result grid

Needs the `serve` extra (fastapi, uvicorn, python-multipart); imported only by `eqvl index serve`.
No file path taken from a request ever reaches the file system: thumbnails are looked up by
integer id in the index's own metadata. Every error is JSON `{"error": ...}` with a 4xx status.
"""

from __future__ import annotations

import io
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from eqvl.errors import EqvlError
from eqvl.index.core import MAX_TEXT_CHARS, Index, describe_model
from eqvl.index.page import PAGE_HTML


@dataclass
class Limits:
    max_k: int = 100
    max_upload_bytes: int = 10 * 1024 * 1024
    max_text_chars: int = MAX_TEXT_CHARS
    thumb_px: int = 256
    thumb_cache: int = 2048


class _Thumbs:
    """Small JPEG thumbnails by id, kept in an LRU (the same hits are shown again and again)."""

    def __init__(self, idx: Index, limits: Limits):
        self.idx, self.limits = idx, limits
        self._cache: OrderedDict[int, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, id_: int) -> bytes | None:
        with self._lock:
            if id_ in self._cache:
                self._cache.move_to_end(id_)
                return self._cache[id_]
        path = self.idx.image_path(id_)  # only ids present in the index have a path
        if path is None:
            return None
        from eqvl.data.images import load_image
        from eqvl.data.records import ImageRef

        image = load_image(ImageRef(path))
        image.thumbnail((self.limits.thumb_px, self.limits.thumb_px))
        out = io.BytesIO()
        image.save(out, format="JPEG", quality=85)
        data = out.getvalue()
        with self._lock:
            self._cache[id_] = data
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


def create_app(idx: Index, limits: Limits | None = None, rerank_model: Any = None, rerank_k: int = 100) -> FastAPI:
    """The FastAPI application (tests run it under a real uvicorn)."""
    limits = limits or Limits()
    app = FastAPI(title="eqvl index", docs_url=None, redoc_url=None, openapi_url=None)
    _error_handlers(app)
    thumbs = _Thumbs(idx, limits)
    idx.encoder  # load the query model before the first request, not during it

    def check_k(k: int) -> int:
        if k <= 0 or k > limits.max_k:
            raise ClientError(400, f"k must be between 1 and {limits.max_k}, got {k}")
        return k

    def run_query(texts, images, k: int, where: list[str], rerank: bool) -> dict[str, Any]:
        started = time.perf_counter()
        use_rerank = rerank and rerank_model is not None
        hits = idx.search(texts=texts, images=images, k=k, where=where or None,
                          rerank_model=rerank_model if use_rerank else None, rerank_k=max(rerank_k, k))[0]
        took = (time.perf_counter() - started) * 1000
        return {"k": k, "where": where, "count": len(hits), "took_ms": round(took, 2),
                "reranked": bool(use_rerank), "hits": [{**h.to_dict(), "thumb": f"/thumb/{h.id}"} for h in hits]}

    @app.get("/health")
    async def health():
        return {"status": "ok", "count": idx.count, "dim": idx.dim, "model": describe_model(idx.model),
                "index": idx.spec.kind, "factory": idx.spec.factory, "columns": idx.columns(),
                "max_k": limits.max_k, "rerank": rerank_model is not None}

    @app.get("/search")
    async def search_text(text: str = "", k: int = 10, where: list[str] = Query(default=[]), rerank: bool = False):
        if not text.strip():
            raise ClientError(400, "the query text is empty (use ?text=...)")
        if len(text) > limits.max_text_chars:
            raise ClientError(400, f"the query text is {len(text)} characters; the limit is {limits.max_text_chars}")
        result = await run_in_threadpool(run_query, [text], None, check_k(k), list(where or []), rerank)
        return {"query": {"text": text}, **result}

    @app.post("/search")
    async def search_image(request: Request):
        size = request.headers.get("content-length")
        if size is not None and size.isdigit() and int(size) > limits.max_upload_bytes + 64 * 1024:
            raise ClientError(413, f"upload is {int(size)} bytes; the limit is {limits.max_upload_bytes}")
        form = await request.form(max_files=1, max_fields=20)
        upload = form.get("image")
        if upload is None or not hasattr(upload, "read"):
            raise ClientError(400, "no image in the form (field 'image')")
        data = await upload.read(limits.max_upload_bytes + 1)
        if len(data) > limits.max_upload_bytes:
            raise ClientError(413, f"upload is over the limit of {limits.max_upload_bytes} bytes")
        image = _decode_upload(data, ClientError)
        k = _form_int(form.get("k", "10"), ClientError)
        where = [w for w in form.getlist("where") if isinstance(w, str) and w.strip()]
        rerank = str(form.get("rerank", "")).lower() in ("1", "true", "on", "yes")
        result = await run_in_threadpool(run_query, None, [image], check_k(k), where, rerank)
        return {"query": {"image": getattr(upload, "filename", "") or "upload"}, **result}

    @app.get("/thumb/{id_}")
    async def thumb(id_: int):
        try:
            data = await run_in_threadpool(thumbs.get, id_)
        except EqvlError:
            raise ClientError(404, f"the image of id {id_} can no longer be read") from None
        if data is None:
            raise ClientError(404, f"no image with id {id_} in this index")
        return Response(content=data, media_type="image/jpeg", headers={"Cache-Control": "max-age=3600"})

    @app.get("/", response_class=HTMLResponse)
    async def page():
        return HTMLResponse(PAGE_HTML)

    return app


def _decode_upload(data: bytes, error: type) -> Any:
    from PIL import Image, UnidentifiedImageError

    if not data:
        raise error(400, "the uploaded image is empty")
    try:
        with Image.open(io.BytesIO(data)) as handle:
            handle.load()
            return handle.convert("RGB")
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise error(400, f"the uploaded file is not a readable image ({type(exc).__name__})") from None


def _form_int(value: Any, error: type) -> int:
    try:
        return int(str(value))
    except ValueError:
        raise error(422, f"k: not an integer: {str(value)[:20]!r}") from None


def serve(idx: Index, host: str = "127.0.0.1", port: int = 8000, limits: Limits | None = None,
          rerank_model: Any = None, rerank_k: int = 100) -> None:
    import uvicorn

    app = create_app(idx, limits, rerank_model, rerank_k)
    print(f"eqvl index: serving {idx.root} ({idx.count} images) on http://{host}:{port}/", flush=True)
    uvicorn.run(app, host=host, port=port, log_level="warning")
