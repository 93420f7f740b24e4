"""A CJK font for matplotlib, so that Chinese labels render instead of empty boxes.

``scripts/setup_system.sh`` installs one from Debian (fonts-noto-cjk) when none is present. This module
finds an installed one through matplotlib's font manager and puts it first in ``font.sans-serif``;
the Latin glyphs of the CJK fonts are fine for English labels too.

Example
-------
>>> name = use_cjk_font()  # doctest: +SKIP
>>> name
'Noto Sans CJK JP'
"""

from __future__ import annotations

import logging
from functools import lru_cache

__all__ = ["CJK_FONT_FAMILIES", "find_cjk_font", "use_cjk_font"]

log = logging.getLogger(__name__)

# Preference order: simplified-Chinese families first; the Noto CJK collection registers under
# several names depending on the matplotlib version.
CJK_FONT_FAMILIES: tuple[str, ...] = (
    "Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "Noto Sans CJK JP", "Noto Sans CJK TC",
    "WenQuanYi Micro Hei", "WenQuanYi Zen Hei", "Microsoft YaHei", "SimHei", "PingFang SC",
    "Heiti SC", "AR PL UMing CN", "Noto Serif CJK SC",
)


@lru_cache(maxsize=1)
def find_cjk_font() -> str | None:
    """The family name of an installed font with Chinese glyphs, or ``None``."""
    from matplotlib import font_manager

    installed = {font.name for font in font_manager.fontManager.ttflist}
    for family in CJK_FONT_FAMILIES:
        if family in installed:
            return family
    # A newly installed font the cached list does not know yet: rebuild once and look again.
    if hasattr(font_manager, "_load_fontmanager"):
        font_manager.fontManager = font_manager._load_fontmanager(try_read_cache=False)
        installed = {font.name for font in font_manager.fontManager.ttflist}
        for family in CJK_FONT_FAMILIES:
            if family in installed:
                return family
    return None


def use_cjk_font() -> str | None:
    """Put a CJK font first in matplotlib's sans-serif list; return its name (``None``: none found).

    Without one, Chinese labels draw as empty boxes: the warning says how to install one.
    """
    import matplotlib as mpl

    family = find_cjk_font()
    if family is None:
        log.warning("no CJK font found: Chinese text in plots will not render. Run "
                    "scripts/setup_system.sh as root, or install fonts-noto-cjk.")
        return None
    current = [name for name in mpl.rcParams["font.sans-serif"] if name != family]
    mpl.rcParams["font.sans-serif"] = [family, *current]
    mpl.rcParams["font.family"] = "sans-serif"
    mpl.rcParams["axes.unicode_minus"] = False  # the CJK fonts lack U+2212
    return family
