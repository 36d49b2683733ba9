"""The switches between a tile build's fast paths and their plain references, read from
the environment where a build's settings are made (``GEOBASE_WARP``,
``GEOBASE_JPEG_DECODER``)."""

from __future__ import annotations

import os

from geobase.errors import TileSettingsError


def switch(value: str | None, env: str, choices: tuple[str, ...], kind: str) -> str:
    """``value``, else ``$env``, else the first of ``choices`` (the fast path).

    Raises:
        TileSettingsError: a value that is not one of ``choices``.
    """
    mode = value if value is not None else os.environ.get(env, "").strip() or choices[0]
    if mode not in choices:
        raise TileSettingsError(
            f"{env}={mode!r} is not a {kind}; expected one of {', '.join(choices)} "
            f"(unset: {choices[0]})"
        )
    return mode
