"""The one rule for the names geobase turns into paths, URLs and records.

Dataset ids, pyramid names and token names are 1 to 128 characters of ASCII letters,
digits, ``_``, ``.`` and ``-``, starting with a letter or a digit. A name therefore never
holds a path separator, is never ``.`` or ``..``, never starts with the dot of the hidden
working files geobase keeps beside its data (``.staging``, ``.cache``, ``.x.tmp-...``) or
with a ``-`` that a command line would take for an option, and is the same text in a
folder name, a URL path segment and a record on every platform.

Example:
    >>> check_name("dom_2023-v1.5", "dataset id")
    'dom_2023-v1.5'
"""

from __future__ import annotations

import re

from geobase.errors import InvalidName

#: The characters a name may hold (a regular-expression class).
NAME_CHARS = "A-Za-z0-9_.-"
#: The longest name.
MAX_LENGTH = 128
#: The whole pattern; use :func:`check_name` or :func:`is_name` rather than matching it.
NAME_RE = re.compile(rf"[A-Za-z0-9][{NAME_CHARS}]{{0,{MAX_LENGTH - 1}}}")


def is_name(value: object) -> bool:
    """Whether ``value`` is a well-formed name."""
    return isinstance(value, str) and NAME_RE.fullmatch(value) is not None


def check_name(value: object, what: str) -> str:
    """``value`` if it is a well-formed name, else :class:`InvalidName` naming the problem.

    Args:
        value: the name as received.
        what: what it names, for the message ("dataset id", "pyramid name", "token name").
    """
    if is_name(value):
        return value  # type: ignore[return-value]
    text = value if isinstance(value, str) else repr(value)
    shown = repr(text[:80] + ("..." if len(text) > 80 else ""))
    if not isinstance(value, str) or not value:
        problem = "is empty"
    elif len(value) > MAX_LENGTH:
        problem = f"is {len(value)} characters long (at most {MAX_LENGTH})"
    elif "/" in value or "\\" in value or value in (".", ".."):
        problem = "is a path, not a name"
    elif not value[0].isascii() or not value[0].isalnum():
        problem = f"starts with {value[0]!r}"
    else:
        bad = sorted({c for c in value if not re.fullmatch(f"[{NAME_CHARS}]", c)})
        problem = "holds " + ", ".join(repr(c) for c in bad[:5])
    raise InvalidName(
        f"{what} {shown} {problem}: use 1-{MAX_LENGTH} ASCII letters, digits, '_', '.' "
        "or '-', starting with a letter or digit"
    )


def check_existing_name(value: object, what: str) -> str:
    """``value`` if it may name an existing record: not empty, no path separator, not
    ``.``/``..``, no leading dot, no control character; else :class:`InvalidName`.

    For deleting or finding what is already recorded, so that a record made before
    :func:`check_name` applied (a Chinese dataset id, say) can still be removed; new
    names go through :func:`check_name`.
    """
    if is_name(value):
        return value  # type: ignore[return-value]
    if (
        isinstance(value, str)
        and value
        and len(value) <= MAX_LENGTH
        and not value.startswith((".", "-"))
        and not any(c in "/\\" or not c.isprintable() for c in value)
    ):
        return value
    return check_name(value, what)  # raises, saying what is wrong
