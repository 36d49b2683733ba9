"""Plain Python values from what pandas, numpy and the store hand over: the one rule by
which a cell becomes JSON (the API, ``--format json``) or text.

pandas turns a column of whole numbers with a gap into floats (``epsg`` 3857.0 beside a
NULL); only the owner of a table knows which of its columns are whole numbers, so it
names them (``integers``) and :func:`plain_record` gives them back as ``int``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Collection, Iterable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["json_default", "plain", "plain_record"]


def plain(value: Any) -> Any:
    """A value as plain JSON: missing values of any kind (None, ``pd.NA``, NaN, ``NaT``,
    infinities) None; dates and times ISO text; numpy scalars Python numbers; mappings,
    records (dataclass instances: their fields) and sequences item by item; anything else
    as it is."""
    import numpy as np
    import pandas as pd

    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, list | tuple | np.ndarray):
        return [plain(v) for v in value]
    if pd.api.types.is_scalar(value) and pd.isna(value):
        return None
    if isinstance(value, np.datetime64):
        value = pd.Timestamp(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def plain_record(
    row: Mapping[str, Any] | pd.Series,
    fields: Iterable[str] | None = None,
    *,
    integers: Collection[str] = (),
) -> dict[str, Any]:
    """A record's ``fields`` (default all) as plain values (see :func:`plain`), the
    columns named in ``integers`` as ``int`` (a whole-number float from a column with
    gaps). A non-whole value in an integer column is kept as it is, never rounded."""
    out: dict[str, Any] = {}
    for key in row.keys() if fields is None else fields:
        value = plain(row.get(key))
        if key in integers and isinstance(value, float) and value.is_integer():
            value = int(value)
        out[key] = value
    return out


def json_default(value: Any) -> Any:
    """:func:`plain` as ``json.dumps``' ``default`` hook, for what json cannot write itself
    (dates, numpy scalars, ``pd.NA``): a value :func:`plain` leaves as it is raises
    TypeError, as json expects."""
    converted = plain(value)
    if converted is value:
        raise TypeError(f"{type(value).__name__} is not JSON serialisable")
    return converted
