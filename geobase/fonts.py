"""The CJK font every chart and PDF uses: one place that finds the font file and sets
matplotlib up with it.

matplotlib finds fonts by name in a cache it builds once (``~/.cache/matplotlib``); a
cache built before the CJK font was installed does not know it, and Chinese labels turn
into missing-glyph boxes. Here the font *file* is located (known Debian paths, then
fontconfig, then the font folders matplotlib scans) and registered explicitly with
``fontManager.addfont``, so the cache's state never matters. Debian's
``fonts-wqy-zenhei`` (WenQuanYi Zen Hei, installed by ``scripts/install-system-deps.sh``)
is the reference font.

Library code uses :func:`chart_rc` in a ``matplotlib.rc_context``; a notebook calls
:func:`use_cjk_font` once to set matplotlib's defaults.
"""

from __future__ import annotations

import functools
import logging
import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any

from geobase.errors import FontNotFound

if TYPE_CHECKING:
    from matplotlib.typing import RcKeyType

logger = logging.getLogger(__name__)

FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/arphic/uming.ttc",
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
)
# file names (lower case, without suffix) of common CJK TrueType fonts, for a font folder scan
FONT_FILE_NAMES = (
    "wqy-zenhei",
    "wqy-microhei",
    "uming",
    "ukai",
    "droidsansfallbackfull",
    "simhei",
    "simsun",
    "msyh",
)
FALLBACK_FAMILY = "DejaVu Sans"


def find_cjk_font(configured: str | Path | None = None) -> Path:
    """A CJK TrueType font file (.ttf/.ttc): the one configured, else one installed.

    Looks at the known Debian paths, then asks fontconfig (``fc-list :lang=zh``), then
    scans the font folders matplotlib knows for common CJK font files.

    Raises:
        FontNotFound: the configured file does not exist, or no CJK font is installed.
    """
    if configured:
        path = Path(configured)
        if not path.is_file():
            raise FontNotFound(f"CJK font {path}: no such file")
        return path
    for candidate in FONT_CANDIDATES:
        if Path(candidate).is_file():
            return Path(candidate)
    found = _fontconfig() or _scan_font_folders()
    if found is not None:
        return found
    raise FontNotFound(
        "no CJK TrueType font found to render Chinese; install Debian's fonts-wqy-zenhei "
        "(scripts/install-system-deps.sh) or name a .ttf/.ttc file"
    )


def _fontconfig() -> Path | None:
    fc_list = shutil.which("fc-list")
    if not fc_list:
        return None
    try:
        listing = subprocess.run(
            [fc_list, ":lang=zh", "file"], capture_output=True, text=True, timeout=20
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    for line in sorted(listing.splitlines()):
        path = line.split(":")[0].strip()
        if path.lower().endswith((".ttf", ".ttc")) and Path(path).is_file():
            return Path(path)
    return None


def _scan_font_folders() -> Path | None:
    from matplotlib import font_manager

    files = font_manager.findSystemFonts(fontext="ttf")
    by_name = {Path(f).stem.lower(): Path(f) for f in files}
    return next((by_name[n] for n in FONT_FILE_NAMES if n in by_name), None)


@functools.cache
def register_font(path: str | Path) -> str:
    """Register a font file with matplotlib (whatever its cache holds); returns its family.

    A ``.ttc`` collection registers its first face.
    """
    from matplotlib import font_manager

    path = str(path)
    font_manager.fontManager.addfont(path)
    return font_manager.FontProperties(fname=path).get_name()


def cjk_family(configured: str | Path | None = None) -> str | None:
    """The family name of the registered CJK font, or None (with a warning in the log)
    when none is installed: charts then label in English only, never in boxes."""
    try:
        path = find_cjk_font(configured)
    except FontNotFound as exc:
        logger.warning("%s; charts are labelled in English only", exc)
        return None
    return register_font(path)


def chart_rc(family: str | None) -> dict[RcKeyType, Any]:
    """matplotlib settings for a chart in ``family`` (CJK), DejaVu Sans for the rest."""
    from matplotlib import font_manager

    families = [family, FALLBACK_FAMILY] if family else [FALLBACK_FAMILY]
    # a CJK font often has one weight (WenQuanYi Zen Hei: 500); asking for that weight
    # keeps findfont from warning that "normal" is not there
    weights = {f.weight for f in font_manager.fontManager.ttflist if f.name == family}
    weight = next(iter(weights)) if len(weights) == 1 else "normal"
    return {
        "font.family": "sans-serif",
        "font.sans-serif": families,
        "font.weight": weight,
        "axes.titleweight": weight,
        "axes.labelweight": weight,
        "figure.titleweight": weight,
        "axes.unicode_minus": False,
    }


def use_cjk_font(configured: str | Path | None = None) -> str:
    """Make the CJK font matplotlib's default (for notebooks); returns its family.

    Raises:
        FontNotFound: no CJK font is installed or the configured file is missing.
    """
    import matplotlib as mpl

    family = register_font(find_cjk_font(configured))
    mpl.rcParams.update(chart_rc(family))
    return family
