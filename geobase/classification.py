"""Classification levels (分类分级): the one list, its order and who may see what.

Every dataset, pyramid and change result carries a classification: ``public`` (公开),
``internal`` (内部) or ``restricted`` (涉密), in that order (DOMAIN.md section 8). A
caller sees a record when its clearance reaches the record's level. The rule fails
closed: a missing or misspelt level ranks above ``restricted``, so nobody sees it.

Foundation: imports nothing but the error family, so that the command line can offer the
levels without loading the catalogue. The bearer tokens that carry a clearance live in
:mod:`geobase.catalog.access`.

Example:
    >>> may_see("internal", "public")
    False
    >>> may_see("public", "restricted")
    True
    >>> most_restrictive(["public", "internal"])
    'internal'
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from geobase.errors import UnknownClassification

Classification = Literal["public", "internal", "restricted"]
CLASSIFICATIONS: tuple[str, ...] = ("public", "internal", "restricted")
LABELS_ZH = {"public": "公开", "internal": "内部", "restricted": "涉密"}


def check_classification(value: str) -> str:
    """``value`` if it is a known classification level, else :class:`UnknownClassification`."""
    if value not in CLASSIFICATIONS:
        raise UnknownClassification(
            f"classification {value!r} is not one of {', '.join(CLASSIFICATIONS)}"
        )
    return value


def check_classifications(values: str | Iterable[str]) -> list[str]:
    """One level or several, each checked with :func:`check_classification`."""
    wanted = [values] if isinstance(values, str) else list(values)
    return [check_classification(v) for v in wanted]


def rank(classification: str | None) -> int:
    """The order of a classification level; unknown or missing levels rank above all.

    Failing closed: a record whose classification is missing or misspelt is treated as
    more secret than ``restricted`` and is never shown.
    """
    if classification in CLASSIFICATIONS:
        return CLASSIFICATIONS.index(classification)
    return len(CLASSIFICATIONS)


def may_see(classification: str | None, clearance: str) -> bool:
    """Whether a caller with ``clearance`` may see a record of ``classification``."""
    return rank(classification) <= rank(check_classification(clearance))


def visible_levels(clearance: str) -> list[str]:
    """The classification levels a caller with ``clearance`` may see, lowest first."""
    return list(CLASSIFICATIONS[: rank(check_classification(clearance)) + 1])


def most_restrictive(levels: Iterable[str | None], default: str = "internal") -> str:
    """The strictest of ``levels`` (``default`` when there are none).

    A missing or misspelt level counts as ``restricted``: something made from a record of
    unknown level is never classified below its most secret known level.
    """
    ranks = [min(rank(level), len(CLASSIFICATIONS) - 1) for level in levels]
    if not ranks:
        return check_classification(default)
    return CLASSIFICATIONS[max(ranks)]
