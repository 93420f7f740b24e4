"""Writing outputs safely: atomically, readable by their owner only.

Every file riskmodel writes goes through here. A file is written under a temporary name in the same
folder and renamed into place, so a reader (or a crash) never sees half of it; a folder of outputs is
built aside and renamed into place when complete. Files are mode 0600 and folders 0700: warning lists
and reports about minors are for the people who run riskmodel, not for every account on the machine.

Example
-------
>>> import tempfile, pathlib
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> with atomic_path(folder / "list.csv") as tmp:
...     _ = tmp.write_text("as_of,level\\n")
>>> oct((folder / "list.csv").stat().st_mode & 0o777)
'0o600'
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

__all__ = ["FILE_MODE", "DIR_MODE", "FORMULA_START", "atomic_path", "atomic_dir", "private_dir", "write_bytes",
           "write_text", "neutralise", "neutralise_frame"]

# a spreadsheet runs a cell starting with one of these as a formula (OWASP's CSV-injection list)
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

FILE_MODE = 0o600
DIR_MODE = 0o700


def private_dir(path: str | Path) -> Path:
    """Create ``path`` (and parents) if needed, owner-only; return it."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    path.chmod(DIR_MODE)
    return path


@contextlib.contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; on success rename it to ``target`` with mode 0600.

    On an exception the temporary file is removed and ``target`` is left as it was.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        tmp.chmod(FILE_MODE)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def write_bytes(target: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``target`` atomically, mode 0600."""
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)
    return Path(target)


def write_text(target: str | Path, text: str, *, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``target`` atomically, mode 0600."""
    return write_bytes(target, text.encode(encoding))


@contextlib.contextmanager
def atomic_dir(target: str | Path) -> Iterator[Path]:
    """Yield a hidden folder beside ``target`` to build in; rename it to ``target`` when complete.

    ``target`` must not exist yet: a run never overwrites an earlier one. On an exception (or an
    interrupt) the partial folder is removed and nothing appears at ``target``.
    """
    target = Path(target)
    if target.exists():
        raise FileExistsError(f"{target} already exists; an earlier output is never overwritten")
    parent = private_dir(target.parent) if not target.parent.exists() else target.parent
    work = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".partial", dir=parent))
    work.chmod(DIR_MODE)
    try:
        yield work
        os.rename(work, target)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise


def neutralise(values):
    """Prefix an apostrophe to every text value a spreadsheet would run as a formula.

    Every CSV or XLSX riskmodel writes goes through this (or :func:`neutralise_frame`): the warning
    lists, the rejected rows, the scored screenings and the audit tables repeat what a centre's
    export held, and opening them in Excel or WPS must not execute anything from it.

    Example
    -------
    >>> import pandas as pd
    >>> neutralise(pd.Series(["=HYPERLINK(1)", "ok", "-3", None])).tolist()
    ["'=HYPERLINK(1)", 'ok', "'-3", None]
    """
    text_values = values.astype("string")
    risky = text_values.str.startswith(FORMULA_START).fillna(False).to_numpy(dtype=bool)
    out = values.astype(object).copy()
    out[risky] = "'" + text_values[risky].astype(str)
    return out


def neutralise_frame(frame):
    """:func:`neutralise` every text (object or string) column of ``frame`` (a copy)."""
    import pandas as pd

    out = frame.copy()
    for column in out.columns:
        if out[column].dtype == object or pd.api.types.is_string_dtype(out[column]):
            out[column] = neutralise(out[column])
    return out
