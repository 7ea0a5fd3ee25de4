"""Writing output files without losing what is on disk: check the target before the work, then write
through a temporary file of a unique name beside it, renamed over the target only once complete."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from numbaplay.errors import OutputFileError


def check_output_file(path: str | Path, force: bool = False, option: str = "--out") -> Path:
    """`path` as a Path if a file can be written there: OutputFileError when it is a folder, when its folder
    does not exist, or when it exists and `force` is not set (named by `option`). Call it before the work
    whose result goes there, so that a bad path fails at once."""
    path = Path(path)
    if path.is_dir():
        raise OutputFileError(f"{option} {str(path)!r} is a folder, not a file")
    if not path.parent.is_dir():
        raise OutputFileError(f"{option} {str(path)!r}: folder {str(path.parent)!r} does not exist")
    if path.exists() and not force:
        raise OutputFileError(f"{str(path)!r} exists; pass --force to overwrite it")
    return path


def write_atomic(path: str | Path, data: bytes | str) -> Path:
    """Write `data` to `path` through a uniquely named temporary file in the same folder, then rename it
    over `path`; on any failure the temporary file is removed and `path` is as it was."""
    path = Path(path)
    raw = data.encode() if isinstance(data, str) else bytes(data)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(raw)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path
