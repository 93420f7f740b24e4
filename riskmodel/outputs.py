"""Writing outputs safely: atomically, readable by their owner only, never over an input.

Every file riskmodel writes goes through here. A file is written under a temporary name in the same
folder and renamed into place, so a reader (or a crash) never sees half of it; a folder of outputs is
built aside and renamed into place when complete. Files are mode 0600 and folders 0700: warning lists
and reports about minors are for the people who run riskmodel, not for every account on the machine.

Before a verb writes anything, :func:`guard_outputs` refuses an output path that is, or resolves
into (through symbolic links, ``..``, a different case, a bind mount), the data folder, an input file
or the model folder; that is a link to nowhere; or whose folder cannot be written.

A write that fails because the machine cannot take it (disk full, quota, read-only file system)
becomes a :class:`~riskmodel.errors.PreflightError` (exit status 3) naming the path, and what was
begun is removed. A temporary file or partial folder holds an advisory lock (``flock``) while it is
being written; the operating system releases it when its process dies, even by ``kill -9``, so the
next write of the same target knows that one left over is stale and removes it.

Example
-------
>>> import tempfile, pathlib
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> with atomic_path(folder / "list.csv") as tmp:
...     _ = tmp.write_text("as_of,level\\n")
>>> oct((folder / "list.csv").stat().st_mode & 0o777)
'0o600'
>>> (folder / "data").mkdir()
>>> guard_outputs({"--out": folder / "data" / ".." / "data" / "x.csv"}, inputs={"data folder": folder / "data"})
Traceback (most recent call last):
...
riskmodel.errors.PreflightError: --out ...: inside the data folder ...; riskmodel never writes into its inputs. ...
"""

from __future__ import annotations

import contextlib
import errno
import glob
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

from riskmodel.errors import OutputExistsError, PreflightError

__all__ = ["FILE_MODE", "DIR_MODE", "FORMULA_START", "atomic_path", "atomic_dir", "private_dir", "write_bytes",
           "write_text", "neutralise", "neutralise_frame", "xml_safe", "XML_REPLACEMENT", "guard_outputs", "cannot_write",
           "remove_stale", "remove_if_unlocked",
           "DISK_ERRNOS"]

log = logging.getLogger(__name__)

# a spreadsheet runs a cell starting with one of these as a formula (OWASP's CSV-injection list)
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# characters XML 1.0 forbids (control characters but tab, newline and carriage return; lone surrogates; U+FFFE
# and U+FFFF): openpyxl refuses a cell holding one (openpyxl.cell.cell.ILLEGAL_CHARACTERS_RE, IllegalCharacterError)
# and Excel cannot open a sheet with one. Word's line break U+000B pasted into a reason is the usual source.
XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
XML_REPLACEMENT = "\ufffd"  # the Unicode replacement character: visibly "something was here"

FILE_MODE = 0o600
DIR_MODE = 0o700

# the machine cannot take the output, wherever in a write it happens: exit status 3, not a traceback
DISK_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS})


# --------------------------------------------------------------------------------------------- failures
def cannot_write(path: str | Path, exc: OSError) -> PreflightError:
    """The :class:`PreflightError` (exit 3) for ``exc`` raised while writing ``path``: one line, what to do."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        advice = "free space on that disk (df -h) or choose another output folder, then run again"
    elif exc.errno == errno.EROFS:
        advice = "the file system is mounted read-only; choose another output folder"
    elif exc.errno == errno.EFBIG:
        advice = "the file is larger than this system or account allows (ulimit -f); choose another output folder"
    else:
        advice = "pass a folder you can write to, or fix its permissions"
    reason = os.strerror(exc.errno) if exc.errno else (exc.strerror or str(exc))  # pyarrow's own text is long
    error = PreflightError(f"{path}: cannot write ({reason}); nothing half-written was left there. "
                           f"{advice[0].upper()}{advice[1:]}.")
    error.errno, error.strerror = exc.errno, exc.strerror
    return error


# --------------------------------------------------------------------------------------------- locks
def _flock(fd: int, *, wait: bool = False) -> bool:
    """Take the exclusive advisory lock of ``fd``; ``False`` when another process holds it."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: no locks, stale files are then never removed
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
    except BlockingIOError:
        return False
    return True


def remove_if_unlocked(path: str | Path) -> bool:
    """Remove the file or folder ``path`` if no live process holds its lock; ``True`` if removed."""
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return False
    try:
        if not _flock(fd):
            return False
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        return True
    finally:
        os.close(fd)


def remove_stale(folder: str | Path, pattern: str) -> list[str]:
    """Remove what matches ``pattern`` in ``folder`` and whose lock no live process holds; return the names.

    For the temporary files and partial folders of the writers here: each holds its lock until it is
    renamed into place or removed, so an unlocked one was left by a process that died (``kill -9``,
    a power cut). The removal is logged by name (these names hold no student data).
    """
    removed = [path.name for path in sorted(Path(folder).glob(pattern)) if remove_if_unlocked(path)]
    if removed:
        log.warning("removed %d stale partial output(s) left by an interrupted process in %s: %s", len(removed),
                    folder, ", ".join(removed))
    return removed


# --------------------------------------------------------------------------------------------- writers
def private_dir(path: str | Path) -> Path:
    """Create ``path`` (and parents) if needed, owner-only; return it."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
        path.chmod(DIR_MODE)
    except FileExistsError:
        raise PreflightError(f"{path}: is a file, not a folder; pass a folder.") from None
    except OSError as exc:
        raise cannot_write(path, exc) from None
    return path


def _make_parent(target: Path) -> None:
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise PreflightError(f"{target.parent}: is a file, not a folder; choose another output path.") from None
    except OSError as exc:
        raise cannot_write(target.parent, exc) from None


@contextlib.contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; on success rename it to ``target`` with mode 0600.

    On an exception the temporary file is removed and ``target`` is left as it was; a write the
    machine cannot take (disk full, read-only) becomes a :class:`PreflightError` naming ``target``.
    """
    target = Path(target)
    _make_parent(target)
    remove_stale(target.parent, glob.escape(f".{target.name}.") + "*.tmp")
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise cannot_write(target, exc) from None
    _flock(fd)  # held until the file is renamed or removed (closed last)
    tmp = Path(tmp_name)
    try:
        yield tmp
        tmp.chmod(FILE_MODE)
        os.replace(tmp, target)
    except OSError as exc:
        if isinstance(exc, PreflightError) or exc.errno not in DISK_ERRNOS:
            raise
        raise cannot_write(target, exc) from None
    finally:
        tmp.unlink(missing_ok=True)
        os.close(fd)


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
    interrupt) the partial folder is removed and nothing appears at ``target``. A partial folder of
    the same target left by a process that died is removed first (:func:`remove_stale`).

    Raises
    ------
    OutputExistsError
        ``target`` exists, or appeared meanwhile (another process wrote it first).
    PreflightError
        The machine cannot take the output (folder not writable, disk full).
    """
    target = Path(target)
    if target.exists() or target.is_symlink():
        raise OutputExistsError(f"{target}: already exists; an earlier output is never overwritten. "
                                "Choose a new name.")
    parent = private_dir(target.parent) if not target.parent.exists() else target.parent
    remove_stale(parent, glob.escape(f".{target.name}.") + "*.partial")
    try:
        work = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".partial", dir=parent))
        fd = os.open(work, os.O_RDONLY)
    except OSError as exc:
        raise cannot_write(target, exc) from None
    try:
        _flock(fd)  # held while the folder is built: a dead builder's folder is stale for the next one
        work.chmod(DIR_MODE)
        yield work
        try:
            os.rename(work, target)
        except OSError as exc:
            if exc.errno in (errno.EEXIST, errno.ENOTEMPTY, errno.ENOTDIR, errno.EISDIR):
                raise OutputExistsError(f"{target}: appeared while this output was being made (another process?); "
                                        "nothing was overwritten. Choose a new name, or run again.") from None
            raise
    except BaseException as exc:
        shutil.rmtree(work, ignore_errors=True)
        if isinstance(exc, OSError) and exc.errno in DISK_ERRNOS:  # name the folder, not a file of its hidden build
            raise cannot_write(target, exc) from None
        raise
    finally:
        os.close(fd)


# --------------------------------------------------------------------------------------------- the guard
def _identity(path: str | Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _folded(path: str) -> str:
    return os.path.normcase(path).casefold()


def _inside(resolved: str, folder: str) -> bool:
    """Is ``resolved`` the folder ``folder`` or inside it: by name (any case), or by identity (inode)."""
    if _folded(resolved) == _folded(folder) or _folded(resolved).startswith(_folded(folder).rstrip(os.sep) + os.sep):
        return True
    folder_id = _identity(folder)
    if folder_id is None:
        return False
    return any(_identity(ancestor) == folder_id for ancestor in [resolved, *map(str, Path(resolved).parents)])


def _is_input_file(resolved: str, given: Path, source: str) -> bool:
    if _folded(resolved) == _folded(source):
        return True
    given_id, source_id = _identity(given), _identity(source)
    return given_id is not None and given_id == source_id


def _probe(resolved: Path, *, folder: bool) -> None:
    """Refuse when the nearest existing folder of ``resolved`` is a file or cannot be written."""
    existing = resolved if folder else resolved.parent
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise PreflightError(f"{existing}: is a file, not a folder; choose an output path in a folder.")
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as exc:
        raise cannot_write(existing, exc) from None


def guard_outputs(outputs: Mapping[str, str | Path | None], *, inputs: Mapping[str, str | Path | None] = {},
                  folders: Iterable[str] = ()) -> None:
    """Refuse, before anything is written, an output path that would destroy an input or cannot be written.

    Parameters
    ----------
    outputs
        Option name -> path the verb will write (``None`` entries are skipped), e.g.
        ``{"--rejected": ..., "--store": ...}``.
    inputs
        What the verb reads, by what it is -> path: ``{"data folder": ..., "model folder": ...,
        "configuration file": ...}``. An existing folder protects everything inside it; a file protects
        itself.
    folders
        The options of ``outputs`` that name a folder (the others name files).

    Raises
    ------
    PreflightError
        (exit status 3) An output is a link to nothing, is an input file, lies in (or is) an input
        folder (after resolving links, ``..``, case and bind mounts), is given twice, or its folder
        cannot be written. The message names the option, the path and what to do.

    Example
    -------
    >>> import tempfile
    >>> data = Path(tempfile.mkdtemp())
    >>> guard_outputs({"--out": data.parent / "lists"}, inputs={"data folder": data}, folders=["--out"])  # fine
    """
    folders = set(folders)
    seen: dict[str, str] = {}
    for option, out in outputs.items():
        if out is None:
            continue
        out = Path(out)
        resolved = os.path.realpath(out)
        shown = f"{option} {out}" + ("" if os.path.abspath(out) == resolved else f" (that is {resolved})")
        if out.is_symlink() and not out.exists():
            raise PreflightError(f"{option} {out}: is a link to {os.readlink(out)}, which does not exist; pass the "
                                 "real path of a new output, or remove the link.")
        for what, source in inputs.items():
            if source is None or not os.path.lexists(source):
                continue
            source_real = os.path.realpath(source)
            if os.path.isdir(source_real):
                if _inside(resolved, source_real):
                    raise PreflightError(f"{shown}: inside the {what} {source}; riskmodel never writes into its "
                                         f"inputs. Choose an output path outside {source}.")
            elif _is_input_file(resolved, out, source_real):
                what = what.replace(" folder", " file")  # the data may be a DuckDB store file
                raise PreflightError(f"{shown}: is the {what} {source}; writing there would overwrite the input. "
                                     "Choose another name.")
        if _folded(resolved) in seen:
            raise PreflightError(f"{shown}: is also {seen[_folded(resolved)]}; one would overwrite the other. "
                                 "Give them different paths.")
        seen[_folded(resolved)] = option
        _probe(Path(resolved), folder=option in folders)


def xml_safe(value):
    """``value`` with every character XML 1.0 forbids replaced by U+FFFD (:data:`XML_REPLACEMENT`); other values
    as they are.

    An XLSX is XML: one control character in a cell (Word's line break U+000B pasted into a reason, an escape
    sequence in a dormitory name) makes openpyxl refuse the whole workbook, so every XLSX cell and header
    riskmodel writes from a centre's data goes through this (:func:`neutralise` with ``xlsx=True``). The CSV
    and the Parquet files keep the value byte for byte.

    Example
    -------
    >>> xml_safe("line\\x0bbreak"), xml_safe("ok"), xml_safe(3)
    ('line�break', 'ok', 3)
    """
    return XML_ILLEGAL.sub(XML_REPLACEMENT, value) if isinstance(value, str) else value


def neutralise(values, *, xlsx: bool = False):
    """Prefix an apostrophe to every text value a spreadsheet would run as a formula.

    Every CSV or XLSX riskmodel writes goes through this (or :func:`neutralise_frame`): the warning
    lists, the rejected rows, the scored screenings and the audit tables repeat what a centre's
    export held, and opening them in Excel or WPS must not execute anything from it. ``xlsx=True``
    (for an XLSX cell) also replaces the characters XML forbids (:func:`xml_safe`).

    Example
    -------
    >>> import pandas as pd
    >>> neutralise(pd.Series(["=HYPERLINK(1)", "ok", "-3", None])).tolist()
    ["'=HYPERLINK(1)", 'ok', "'-3", None]
    >>> neutralise(pd.Series(["=A1\\x1b", "a\\x0bb"]), xlsx=True).tolist()
    ["'=A1�", 'a�b']
    """
    import pandas as pd

    # a plain loop: pandas' string methods cost more than the test on the few thousand cells of a list
    out = []
    for value in values.astype(object).tolist():
        if isinstance(value, str):
            if xlsx:
                value = xml_safe(value)
            if value.startswith(FORMULA_START):
                value = "'" + value
        elif not (value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and value != value)):
            value_text = str(value)  # a number or date kept as text in an object column
            if value_text.startswith(FORMULA_START):
                value = "'" + (xml_safe(value_text) if xlsx else value_text)
        out.append(value)
    return pd.Series(out, index=values.index, name=values.name, dtype=object)


def neutralise_frame(frame, *, xlsx: bool = False):
    """:func:`neutralise` every text (object or string) column of ``frame`` (a copy); ``xlsx=True`` also
    makes the column names XML-safe (:func:`xml_safe`)."""
    import pandas as pd

    out = frame.copy()
    for column in out.columns:
        if out[column].dtype == object or pd.api.types.is_string_dtype(out[column]):
            out[column] = neutralise(out[column], xlsx=xlsx)
    if xlsx:
        out.columns = [xml_safe(c) for c in out.columns]
    return out
