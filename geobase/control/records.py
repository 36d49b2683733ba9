"""Control-point records: kinds, grading schemes, provenance and the record type.

A control point (控制点) has one *kind* (what it is: a CORS reference station, a GNSS
point, a levelling benchmark or a city-network point) and one grade in each grading scheme
it belongs to; a point may carry several schemes at once (a GNSS D-grade point that is
also a 4th-order benchmark and a CJJ 一级 point).

Grades are stored as canonical codes and accepted in the spellings surveyors write:

=========== ======================================= =================================
scheme      canonical codes                         also accepted
=========== ======================================= =================================
cors        ``CORS``                                基准站, 参考站
gnss        ``A`` .. ``E`` (GB/T 18314)             ``C级``, ``GNSS C``, ``GPS C级``
levelling   ``L1`` .. ``L4`` (GB/T 12897/12898)     ``三等水准``, ``水准三等``, ``3等水准``
cjj         ``CJJ-2``, ``CJJ-3``, ``CJJ-4``,        ``二等``/``三等``/``四等`` (on a
            ``CJJ-I``, ``CJJ-II`` (CJJ/T 8)         city point), ``一级``, ``二级``
=========== ======================================= =================================

A bare ``三等`` means a levelling order on a levelling benchmark and a CJJ grade
elsewhere.

Example:
    >>> parse_grade("C级")
    Grade(scheme='gnss', code='C')
    >>> parse_grade("三等", kind="levelling")
    Grade(scheme='levelling', code='L3')
    >>> grade_label("CJJ-I")
    'CJJ 一级'
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass, field, fields
from typing import Any, Literal, NamedTuple

from geobase import dates
from geobase.errors import InvalidCoordinates, UnknownGrade, ValidationError

Kind = Literal["cors", "gnss", "levelling", "city"]
Scheme = Literal["cors", "gnss", "levelling", "cjj"]
Source = Literal["adjusted", "converted", "scaled"]
MarkType = Literal["monument", "pillar", "rooftop", "bolt"]

KINDS: tuple[str, ...] = ("cors", "gnss", "levelling", "city")
SCHEMES: tuple[str, ...] = ("cors", "gnss", "levelling", "cjj")
SOURCES: tuple[str, ...] = ("adjusted", "converted", "scaled")
MARK_TYPES: tuple[str, ...] = ("monument", "pillar", "rooftop", "bolt")

# the grading scheme a kind's own grade belongs to
KIND_SCHEME: dict[str, str] = {
    "cors": "cors",
    "gnss": "gnss",
    "levelling": "levelling",
    "city": "cjj",
}

KIND_LABELS: dict[str, str] = {
    "cors": "CORS基准站 CORS station",
    "gnss": "GNSS点 GNSS point",
    "levelling": "水准点 levelling benchmark",
    "city": "城市控制点 city-network point",
}

SOURCE_LABELS: dict[str, str] = {
    "adjusted": "平差 adjusted",
    "converted": "换算 converted",
    "scaled": "图解 scaled from a map",
}

MARK_TYPE_LABELS: dict[str, str] = {
    "monument": "普通标石 monument",
    "pillar": "观测墩 pillar",
    "rooftop": "楼顶标志 rooftop mark",
    "bolt": "墙脚标志 bolt",
}

GRADE_CODES: dict[str, tuple[str, ...]] = {
    "cors": ("CORS",),
    "gnss": ("A", "B", "C", "D", "E"),
    "levelling": ("L1", "L2", "L3", "L4"),
    "cjj": ("CJJ-2", "CJJ-3", "CJJ-4", "CJJ-I", "CJJ-II"),
}

_CN_DIGITS = {"一": 1, "二": 2, "三": 3, "四": 4, "1": 1, "2": 2, "3": 3, "4": 4}
_ORDER_CN = {1: "一", 2: "二", 3: "三", 4: "四"}

_KIND_ALIASES: dict[str, str] = {
    "cors": "cors",
    "cors站": "cors",
    "基准站": "cors",
    "参考站": "cors",
    "连续运行基准站": "cors",
    "gnss": "gnss",
    "gps": "gnss",
    "gnss点": "gnss",
    "gps点": "gnss",
    "卫星定位点": "gnss",
    "levelling": "levelling",
    "leveling": "levelling",
    "benchmark": "levelling",
    "level": "levelling",
    "水准": "levelling",
    "水准点": "levelling",
    "city": "city",
    "cjj": "city",
    "城市控制点": "city",
    "城市": "city",
    "城市控制网": "city",
}

_SOURCE_ALIASES: dict[str, str] = {
    "adjusted": "adjusted",
    "adjustment": "adjusted",
    "平差": "adjusted",
    "平差值": "adjusted",
    "实测": "adjusted",
    "converted": "converted",
    "conversion": "converted",
    "换算": "converted",
    "转换": "converted",
    "scaled": "scaled",
    "map": "scaled",
    "图解": "scaled",
    "图上量取": "scaled",
}

_MARK_ALIASES: dict[str, str] = {
    "monument": "monument",
    "标石": "monument",
    "普通标石": "monument",
    "埋石": "monument",
    "pillar": "pillar",
    "观测墩": "pillar",
    "强制对中观测墩": "pillar",
    "rooftop": "rooftop",
    "roof": "rooftop",
    "楼顶标志": "rooftop",
    "屋顶标志": "rooftop",
    "楼顶": "rooftop",
    "bolt": "bolt",
    "墙脚标志": "bolt",
    "墙角标志": "bolt",
    "标志钉": "bolt",
    "钢钉": "bolt",
}


class Grade(NamedTuple):
    """One grade in one scheme (``Grade('gnss', 'C')``)."""

    scheme: str
    code: str


_GNSS_RE = re.compile(r"^(?:GNSS|GPS|BDS)?\s*-?\s*([A-E])\s*(?:级|GRADE)?\s*(?:GNSS|GPS)?(?:点)?$")
_LEVEL_RE = re.compile(
    r"^(?:L\s*-?\s*([1-4])|([一二三四1-4])\s*等\s*水准(?:点)?|水准\s*([一二三四1-4])\s*等"
    r"|LEVEL(?:LING)?\s*-?\s*([1-4])|([1-4])(?:ST|ND|RD|TH)\s*-?\s*ORDER(?:\s*LEVELL?ING)?)$"
)
_CJJ_DENG_RE = re.compile(r"^(?:CJJ|城市)?\s*-?\s*([二三四234])\s*等$")
_CJJ_JI_RE = re.compile(r"^(?:CJJ|城市)?\s*-?\s*(?:([一二12])\s*级|(I{1,2}))$")
_SPLIT_RE = re.compile(r"[;；,，、/|+]+")


def parse_grade(text: str, kind: str | None = None) -> Grade:
    """A grade from any accepted spelling (see the module docstring).

    Args:
        text: the grade as written (``"C"``, ``"C级"``, ``"三等水准"``, ``"一级"``).
        kind: the point's kind; decides what a bare ``"三等"`` means.

    Raises:
        UnknownGrade: no scheme knows the text.
    """
    raw = str(text).strip()
    value = raw.upper().replace("　", " ").strip()
    if not value:
        raise UnknownGrade("empty grade")
    if value in ("CORS", "基准站", "参考站", "CORS站"):
        return Grade("cors", "CORS")
    for scheme, codes in GRADE_CODES.items():
        if value in codes:
            return Grade(scheme, value)
    match = _GNSS_RE.match(value)
    if match:
        return Grade("gnss", match.group(1))
    match = _LEVEL_RE.match(value)
    if match:
        digit = next(g for g in match.groups() if g)
        return Grade("levelling", f"L{_CN_DIGITS[digit]}")
    match = _CJJ_DENG_RE.match(value)
    if match:
        order = _CN_DIGITS[match.group(1)]
        if kind == "levelling":
            return Grade("levelling", f"L{order}")
        return Grade("cjj", f"CJJ-{order}")
    match = _CJJ_JI_RE.match(value)
    if match:
        if match.group(1):
            return Grade("cjj", "CJJ-" + "I" * _CN_DIGITS[match.group(1)])
        return Grade("cjj", f"CJJ-{match.group(2)}")
    if value in ("一等", "1等"):
        if kind == "levelling":
            return Grade("levelling", "L1")
        raise UnknownGrade(
            f"grade {raw!r} is a levelling order only (CJJ has no 一等); write 一等水准"
        )
    raise UnknownGrade(
        f"unknown grade {raw!r}: expected GNSS A-E (C级), levelling 一~四等水准 (L1-L4), "
        "CJJ 二/三/四等 or 一/二级, or CORS"
    )


def parse_grades(text: str | None, kind: str | None = None) -> dict[str, str]:
    """Every grade in a cell (``"C级;三等水准"``), as {scheme: code}.

    Raises:
        UnknownGrade: a part is unknown, or two grades of one scheme are given.
    """
    out: dict[str, str] = {}
    if text is None:
        return out
    for part in _SPLIT_RE.split(str(text)):
        if not part.strip():
            continue
        grade = parse_grade(part, kind)
        if grade.scheme in out and out[grade.scheme] != grade.code:
            raise UnknownGrade(
                f"grades {out[grade.scheme]} and {grade.code} are both in the {grade.scheme} "
                "scheme; a point has one grade per scheme"
            )
        out[grade.scheme] = grade.code
    return out


def grade_label(code: str) -> str:
    """A grade code as surveyors write it (``'C'`` -> ``'C级'``, ``'L3'`` -> ``'三等水准'``)."""
    if code == "CORS":
        return "CORS"
    if code in GRADE_CODES["gnss"]:
        return f"{code}级"
    if code in GRADE_CODES["levelling"]:
        return f"{_ORDER_CN[int(code[1])]}等水准"
    if code in ("CJJ-2", "CJJ-3", "CJJ-4"):
        return f"CJJ {_ORDER_CN[int(code[-1])]}等"
    if code in ("CJJ-I", "CJJ-II"):
        return f"CJJ {_ORDER_CN[len(code) - 4]}级"
    raise UnknownGrade(f"unknown grade code {code!r}")


def parse_kind(text: str) -> str:
    """A kind from its English or Chinese name (``'水准点'`` -> ``'levelling'``).

    Raises:
        ValidationError: unknown kind.
    """
    value = str(text).strip().lower()
    if value in _KIND_ALIASES:
        return _KIND_ALIASES[value]
    raise ValidationError(
        f"unknown kind {text!r}: expected one of {', '.join(KINDS)} (or 基准站, GNSS点, 水准点, "
        "城市控制点)"
    )


def parse_source(text: str) -> str:
    """A provenance from its English or Chinese name (``'平差'`` -> ``'adjusted'``)."""
    value = str(text).strip().lower()
    if value in _SOURCE_ALIASES:
        return _SOURCE_ALIASES[value]
    raise ValidationError(
        f"unknown coordinate source {text!r}: expected adjusted (平差), converted (换算) or "
        "scaled (图解)"
    )


def parse_mark_type(text: str) -> str:
    """A mark type from its English or Chinese name (``'观测墩'`` -> ``'pillar'``)."""
    value = str(text).strip().lower()
    if value in _MARK_ALIASES:
        return _MARK_ALIASES[value]
    raise ValidationError(
        f"unknown mark type {text!r}: expected monument (标石), pillar (观测墩), rooftop "
        "(楼顶标志) or bolt (墙脚标志)"
    )


def parse_epoch(text: Any) -> float:
    """An epoch as a decimal year (``2000.0``, ``"2021.5"``, or a date ``"2021-07-01"``).

    Raises:
        ValidationError: not an epoch between 1950 and 2100.
    """
    try:
        value = float(text)
    except (TypeError, ValueError):
        try:
            date = dates.parse_date(text, "epoch", partial=True)
        except ValidationError:
            raise ValidationError(
                f"epoch {text!r} is not a decimal year (2000.0) or a date"
            ) from None
        start = dt.date(date.year, 1, 1)
        days = (dt.date(date.year + 1, 1, 1) - start).days
        value = date.year + (date - start).days / days
    if not (1950.0 <= value <= 2100.0) or math.isnan(value):
        raise ValidationError(f"epoch {text!r} is outside 1950..2100")
    return round(value, 4)


def _check_optional(value: float | None, what: str) -> None:
    if value is not None and not math.isfinite(value):
        raise InvalidCoordinates(f"{what} {value!r} is not a finite number")


@dataclass(frozen=True)
class ControlPoint:
    """One control point of the registry (current values).

    Coordinates are CGCS2000: ``lon``/``lat`` (L/B, degrees), ``ellh`` (ellipsoidal
    height, m), Gauss-Kruger ``x_north``/``y_east`` (m) in the system ``gk_epsg``, and
    ``normal_h`` (1985 national height datum, m). Each group has its provenance
    (``adjusted``, ``converted``, ``scaled``) and epoch (decimal year).

    Raises:
        ValidationError / UnknownGrade / InvalidCoordinates: at construction, for an
            inconsistent record.
    """

    point_id: str
    name: str
    kind: str
    lon: float
    lat: float
    x_north: float
    y_east: float
    gk_epsg: int
    geo_source: str
    grid_source: str
    gnss_grade: str | None = None
    level_grade: str | None = None
    cjj_grade: str | None = None
    cors: bool = False
    district: str | None = None
    ellh: float | None = None
    normal_h: float | None = None
    geo_epoch: float | None = None
    grid_epoch: float | None = None
    height_source: str | None = None
    height_epoch: float | None = None
    mark_type: str | None = None
    established: dt.date | None = None
    custodian: str | None = None
    site: str | None = None
    route: str | None = None
    notes: str | None = None
    sheet_10k: str | None = None
    sheet_500: str | None = None
    replaces: str | None = None
    replaced_by: str | None = None
    retired_on: dt.date | None = None
    version: int = 1
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if not self.point_id or any(c.isspace() for c in self.point_id):
            raise ValidationError(f"point id {self.point_id!r} is empty or contains blanks")
        if not self.name:
            raise ValidationError(f"point {self.point_id}: name is empty")
        if self.kind not in KINDS:
            raise ValidationError(f"point {self.point_id}: unknown kind {self.kind!r}")
        for scheme, value in (
            ("gnss", self.gnss_grade),
            ("levelling", self.level_grade),
            ("cjj", self.cjj_grade),
        ):
            if value is not None and value not in GRADE_CODES[scheme]:
                raise UnknownGrade(f"point {self.point_id}: {value!r} is not a {scheme} grade")
        own = KIND_SCHEME[self.kind]
        if own != "cors" and self.grades.get(own) is None:
            raise ValidationError(f"point {self.point_id}: a {self.kind} point needs a {own} grade")
        if not (-180.0 <= self.lon <= 180.0 and -90.0 <= self.lat <= 90.0):
            raise InvalidCoordinates(
                f"point {self.point_id}: B {self.lat!r}, L {self.lon!r} out of range"
            )
        numbers: tuple[tuple[str, float | None], ...] = (
            ("ellipsoidal height", self.ellh),
            ("normal height", self.normal_h),
            ("x", self.x_north),
            ("y", self.y_east),
        )
        for what, number in numbers:
            _check_optional(number, f"point {self.point_id}: {what}")
        for what, value in (
            ("geo_source", self.geo_source),
            ("grid_source", self.grid_source),
            ("height_source", self.height_source),
        ):
            if value is not None and value not in SOURCES:
                raise ValidationError(f"point {self.point_id}: {what} {value!r} unknown")
        if self.normal_h is not None and self.height_source is None:
            raise ValidationError(f"point {self.point_id}: normal height without its source")
        if self.mark_type is not None and self.mark_type not in MARK_TYPES:
            raise ValidationError(f"point {self.point_id}: unknown mark type {self.mark_type!r}")

    @property
    def grades(self) -> dict[str, str]:
        """{scheme: code} for every scheme the point is graded in."""
        out = {}
        if self.cors:
            out["cors"] = "CORS"
        for scheme, value in (
            ("gnss", self.gnss_grade),
            ("levelling", self.level_grade),
            ("cjj", self.cjj_grade),
        ):
            if value is not None:
                out[scheme] = value
        return out

    @property
    def grade_text(self) -> str:
        """All grades as surveyors write them (``'C级; 四等水准'``)."""
        return "; ".join(grade_label(code) for code in self.grades.values())

    @property
    def retired(self) -> bool:
        return self.retired_on is not None

    def as_dict(self) -> dict[str, Any]:
        """The record as plain values (dates as ISO strings), without ``extra``."""
        out = {}
        for f in fields(self):
            if f.name == "extra":
                continue
            value = getattr(self, f.name)
            out[f.name] = value.isoformat() if isinstance(value, dt.date) else value
        return out
