"""User-facing errors: the CLI prints these as one clear line instead of a traceback."""


class EqvlError(Exception):
    """An error caused by the user's input (file, parameter, layout); the message names the culprit.

    The library speaks in its own parameter names ("pretrained is not used with hf: models");
    `param` carries that name as data, so the CLI can say `--pretrained` instead and a notebook
    user sees the keyword they passed."""

    def __init__(self, message: str = "", *, param: str | None = None, params: tuple[str, ...] = ()):
        super().__init__(message)
        self.param = param or (params[0] if params else None)
        #: every parameter the message names, written `like_this` (the CLI shows each as its flag)
        self.params = params or ((param,) if param else ())


class DataError(EqvlError):
    """Malformed or missing benchmark / training data. Message names file, line or field."""

    def __init__(self, message: str, path: str | None = None, line: int | None = None, field: str | None = None,
                 params: tuple[str, ...] = ()):
        where = ""
        if path is not None:
            where = str(path)
            if line is not None:
                where += f":{line}"
            if field is not None:
                where += f" (field {field!r})"
            where += ": "
        elif field is not None:
            where = f"field {field!r}: "
        super().__init__(where + message)
        self.path, self.line, self.field = path, line, field
        self.param = params[0] if params else None
        self.params = params  # every parameter the message names (the CLI shows each as its flag)


class StorageFullError(EqvlError):
    """A write failed for lack of space (disk full, quota, file-size limit); names path and bytes.
    Whatever was half-written has been removed, so nothing partial is trusted later."""


def describe_range(kind: type, lo: float | None = None, hi: float | None = None, *,
                   lo_open: bool = False, hi_open: bool = False) -> str:
    """"an integer >= 1", "a finite number > 0 and <= 1": what a range check says a value must be
    (the CLI's flag types and the loss terms' declared options use the same words)."""
    parts = []
    if lo is not None:
        parts.append(f"{'>' if lo_open else '>='} {lo:g}")
    if hi is not None:
        parts.append(f"{'<' if hi_open else '<='} {hi:g}")
    noun = "an integer" if kind is int else "a finite number"
    return f"{noun} {' and '.join(parts)}".strip()

