"""What a query may be: non-empty text under a length limit, a readable image, KEY=VALUE filters."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from PIL import Image

from eqvl.errors import EqvlError

MAX_TEXT_CHARS = 1000


def parse_where(where: Mapping[str, Any] | Sequence[str] | None) -> dict[str, list[str]]:
    """{'subset': 'location'} or ['subset=location', ...] -> {'subset': ['location']}."""
    if not where:
        return {}
    out: dict[str, list[str]] = {}
    pairs: Any = where.items() if isinstance(where, Mapping) else []
    if not isinstance(where, Mapping):
        parsed = []
        for text in where:
            key, sep, value = str(text).partition("=")
            if not sep or not key.strip():
                raise EqvlError(f"`where` {text!r}: expected KEY=VALUE", params=("where",))
            parsed.append((key.strip(), value))
        pairs = parsed
    for key, value in pairs:
        values = value if isinstance(value, (list, tuple)) else [value]
        out.setdefault(str(key), []).extend(str(v) for v in values)
    return out


def check_text(text: Any) -> str:
    if not isinstance(text, str) or not text.strip():
        raise EqvlError("the query text is empty")
    if len(text) > MAX_TEXT_CHARS:
        raise EqvlError(f"the query text is {len(text)} characters long; the limit is {MAX_TEXT_CHARS}")
    return text


def load_query_image(image: Any) -> Image.Image:
    """A query image: a PIL image, or a path read with eqvl's loader (errors name the file)."""
    if isinstance(image, Image.Image):
        return image.convert("RGB")
    from eqvl.data.images import load_image
    from eqvl.data.records import ImageRef
    from eqvl.errors import DataError

    try:
        return load_image(ImageRef(str(image)))
    except DataError as exc:
        raise EqvlError(f"query image: {exc}") from None
