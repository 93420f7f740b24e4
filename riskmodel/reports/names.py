"""Names from the data made harmless: safe as a path component, escaped in HTML, Markdown and plots.

School, college, class and dorm names come from the centre's files and are untrusted: a name such as
``../../etc``, ``<script>`` or ``=cmd|' /C calc'!A0`` must never escape the run folder, run in a
browser or break a plot. Every name passes through here before it becomes part of a path
(:func:`safe_component`), HTML (:func:`html_text`), Markdown (:func:`md_text`, the audit's model
card) or a matplotlib label (:func:`plot_text`).

Example
-------
>>> safe_component("../../etc").startswith("etc-")
True
>>> html_text("<script>")
'&lt;script&gt;'
"""

from __future__ import annotations

import hashlib
import html
import re
import unicodedata

__all__ = ["safe_component", "html_text", "md_text", "plot_text"]

_UNSAFE = re.compile(r"[^\w-]+", flags=re.UNICODE)


def safe_component(name: object, *, max_len: int = 40) -> str:
    """A file-name component for ``name``: letters, digits, ``_`` and ``-`` only, plus a short hash.

    The hash of the original name keeps two names that clean to the same text apart (``a/b`` and
    ``a:b``) and gives an empty or all-punctuation name a non-empty component. Chinese characters
    are letters and are kept, so a folder still says which college it is.

    Parameters
    ----------
    name
        Any value from the data (converted with ``str``).
    max_len
        Longest readable part kept before the hash.

    Examples
    --------
    >>> safe_component("计算机学院").startswith("计算机学院-")
    True
    >>> "/" in safe_component("../../etc") or safe_component("../../etc").startswith(".")
    False
    """
    original = str(name)
    readable = _UNSAFE.sub("_", unicodedata.normalize("NFKC", original)).strip("._-")[:max_len]
    digest = hashlib.sha256(original.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return f"{readable}-{digest}" if readable else digest


def html_text(value: object) -> str:
    """``value`` as text safe inside HTML elements and attribute values (quotes escaped)."""
    return html.escape(str(value), quote=True)


def md_text(value: object) -> str:
    """``value`` as literal Markdown text on one line: HTML escaped (Markdown viewers pass raw HTML
    through), line breaks made spaces, Markdown punctuation backslash-escaped (no link, emphasis or
    table cell can be made from a name)."""
    flat = " ".join(str(value).split())
    return re.sub(r"([\\`*_{}\[\]()#+!|~>-])", r"\\\1", html.escape(flat, quote=False))


def plot_text(value: object) -> str:
    """``value`` as a literal matplotlib label: ``$`` escaped so that mathtext never parses a name."""
    return str(value).replace("\\", "\\\\").replace("$", r"\$")
