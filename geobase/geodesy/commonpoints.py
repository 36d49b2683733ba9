"""Common points (重合点): points known in both systems, read from a table or a CSV file.

:class:`CommonPoints` validates ids, shapes and values, and reads the column layouts a
bureau uses (``_east/_north``, ``_lon/_lat``, survey or GIS ``_x/_y``, optional
ellipsoidal heights ``src_h, dst_h``). The fit is :mod:`geobase.geodesy.fit`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from pyproj import CRS

from geobase.errors import FitError
from geobase.geodesy.parameters import XY, Axes
from geobase.geodesy.zones import gk_system_of, resolve_crs

# --- common points -----------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class CommonPoints:
    """Points known in both systems (重合点), in (east, north) / (lon, lat) order.

    Attributes:
        ids: Point ids, unique.
        src: (n, 2) source coordinates.
        dst: (n, 2) target coordinates.
        src_h: Source ellipsoidal heights, or None.
        dst_h: Target ellipsoidal heights, or None.
        src_axes: ``east_north`` (projected) or ``lon_lat`` (geographic, degrees).
        dst_axes: Same for the target side.
        lines: File line of each point, for messages (None when not read from a file).

    Raises:
        FitError: shapes differ, values are missing, or ids repeat.
    """

    ids: tuple[str, ...]
    src: NDArray[np.float64]
    dst: NDArray[np.float64]
    src_h: NDArray[np.float64] | None = None
    dst_h: NDArray[np.float64] | None = None
    src_axes: Axes = "east_north"
    dst_axes: Axes = "east_north"
    lines: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        src = np.asarray(self.src, dtype=np.float64)
        dst = np.asarray(self.dst, dtype=np.float64)
        n = len(self.ids)
        if src.shape != (n, 2) or dst.shape != (n, 2):
            raise FitError(
                f"common points: src {src.shape} and dst {dst.shape} for {n} ids; "
                f"expected ({n}, 2) each"
            )
        for name in ("src_h", "dst_h"):
            value = getattr(self, name)
            if value is not None:
                value = np.asarray(value, dtype=np.float64)
                if value.shape != (n,):
                    raise FitError(
                        f"common points: {name} has shape {value.shape}, expected ({n},)"
                    )
                object.__setattr__(self, name, value)
        if (self.src_h is None) != (self.dst_h is None):
            raise FitError("common points: heights on one side only; give src_h and dst_h")
        ids = tuple(str(i).strip() for i in self.ids)
        if any(not i for i in ids):
            raise FitError(f"common points: {self._where(ids.index(''))}empty id")
        seen: dict[str, int] = {}
        dups = []
        for i, pid in enumerate(ids):
            if pid in seen:
                dups.append(pid)
            seen.setdefault(pid, i)
        if dups:
            shown = ", ".join(sorted(set(dups))[:10])
            raise FitError(
                f"common points: duplicate ids {shown}; each common point must appear once"
            )
        for name, arr in (("src", src), ("dst", dst), ("src_h", self.src_h), ("dst_h", self.dst_h)):
            if arr is not None and not np.isfinite(arr).all():
                i = int(np.flatnonzero(~np.isfinite(arr).reshape(n, -1).all(axis=1))[0])
                raise FitError(f"common points: {self._where(i)}{name} is missing or not finite")
        object.__setattr__(self, "ids", ids)
        object.__setattr__(self, "src", src)
        object.__setattr__(self, "dst", dst)

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def has_heights(self) -> bool:
        """Whether both sides carry ellipsoidal heights."""
        return self.src_h is not None

    def _where(self, i: int) -> str:
        if self.lines is not None:
            return f"line {self.lines[i]}: "
        return f"point {self.ids[i]!r}: " if i < len(self.ids) and self.ids[i] else f"point {i}: "

    @classmethod
    def from_frame(
        cls,
        frame: pd.DataFrame,
        *,
        xy: XY | None = None,
        src_crs: str | int | CRS | None = None,
        dst_crs: str | int | CRS | None = None,
        source: str = "common points",
    ) -> CommonPoints:
        """Common points from a table with ``id`` and per side ``<side>_east,<side>_north``
        or ``<side>_lon,<side>_lat`` or ``<side>_x,<side>_y``, plus ``src_h,dst_h``.

        Args:
            frame: The table (strings or numbers; column names matched without case).
            xy: How ``_x,_y`` columns are read: ``survey`` (x = north) or ``gis``
                (x = east). Default: survey, unless that side's CRS is given and is not a
                Gauss-Kruger system.
            src_crs: Source CRS, used only to choose the ``xy`` default.
            dst_crs: Target CRS, likewise.
            source: Name of the input for messages.

        Raises:
            FitError: missing columns, values that are not numbers, duplicate ids.
        """
        columns = {str(c).strip().lower(): c for c in frame.columns}
        lines = frame.attrs.get("lines")
        if lines is not None and len(lines) != len(frame):
            lines = None

        def where(i: int) -> str:
            return f"line {lines[i]}: " if lines is not None else f"row {i + 1}: "

        def numbers(name: str) -> NDArray[np.float64]:
            column = columns[name]
            raw = frame[column]
            values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64)
            bad = ~np.isfinite(values)
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                value = raw.iloc[i]
                what = (
                    "no value" if value is None or value != value else f"{value!r} is not a number"
                )
                raise FitError(f"{source}: {where(i)}{column}: {what}")
            return values

        if "id" not in columns:
            raise FitError(
                f"{source}: no id column; expected id, src_east, src_north, dst_east, dst_north "
                f"(or _lon/_lat, _x/_y); found {', '.join(map(str, frame.columns))}"
            )
        sides: dict[str, tuple[NDArray, str]] = {}
        for side, crs in (("src", src_crs), ("dst", dst_crs)):
            if {f"{side}_lon", f"{side}_lat"} <= columns.keys():
                east, north, axes = f"{side}_lon", f"{side}_lat", "lon_lat"
            elif {f"{side}_east", f"{side}_north"} <= columns.keys():
                east, north, axes = f"{side}_east", f"{side}_north", "east_north"
            elif {f"{side}_x", f"{side}_y"} <= columns.keys():
                mode = xy or _default_xy(crs)
                axes = "east_north"
                if mode == "survey":
                    east, north = f"{side}_y", f"{side}_x"
                else:
                    east, north = f"{side}_x", f"{side}_y"
            else:
                raise FitError(
                    f"{source}: no {side} coordinate columns; expected {side}_east,{side}_north "
                    f"or {side}_lon,{side}_lat (or {side}_x,{side}_y); found "
                    f"{', '.join(map(str, frame.columns))}"
                )
            sides[side] = (np.column_stack([numbers(east), numbers(north)]), axes)
        heights = [f"{s}_h" for s in ("src", "dst") if f"{s}_h" in columns]
        if len(heights) == 1:
            missing = "dst_h" if heights == ["src_h"] else "src_h"
            raise FitError(f"{source}: {heights[0]} is given but {missing} is not")
        ids_column = frame[columns["id"]]
        empty = ids_column.isna() | (ids_column.astype(str).str.strip() == "")
        if empty.any():
            raise FitError(f"{source}: {where(int(np.flatnonzero(empty.to_numpy())[0]))}no id")
        return cls(
            ids=tuple(str(v).strip() for v in ids_column),
            src=sides["src"][0],
            dst=sides["dst"][0],
            src_h=numbers("src_h") if heights else None,
            dst_h=numbers("dst_h") if heights else None,
            src_axes=sides["src"][1],  # type: ignore[arg-type]
            dst_axes=sides["dst"][1],  # type: ignore[arg-type]
            lines=tuple(int(v) for v in lines) if lines is not None else None,
        )

    @classmethod
    def read(
        cls,
        path: str | Path,
        *,
        xy: XY | None = None,
        src_crs: str | int | CRS | None = None,
        dst_crs: str | int | CRS | None = None,
    ) -> CommonPoints:
        """Common points from a CSV file (UTF-8 or GBK); see :meth:`from_frame`.

        Raises:
            SourceReadError: the file is missing, empty or undecodable.
            FitError: see :meth:`from_frame`.
        """
        from geobase.tabular import read_csv

        return cls.from_frame(
            read_csv(path), xy=xy, src_crs=src_crs, dst_crs=dst_crs, source=str(path)
        )


def _default_xy(crs: str | int | CRS | None) -> XY:
    if crs is None:
        return "survey"
    resolved = resolve_crs(crs)
    return "survey" if gk_system_of(resolved) is not None else "gis"
