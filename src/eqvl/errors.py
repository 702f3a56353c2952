"""User-facing errors: the CLI prints these as one clear line instead of a traceback."""


class EqvlError(Exception):
    """An error caused by the user's input (file, flag, layout); message names the culprit."""


class DataError(EqvlError):
    """Malformed or missing benchmark / training data. Message names file, line or field."""

    def __init__(self, message: str, path: str | None = None, line: int | None = None, field: str | None = None):
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


class StorageFullError(EqvlError):
    """A write failed for lack of space (disk full, quota, file-size limit); names path and bytes.
    Whatever was half-written has been removed, so nothing partial is trusted later."""
