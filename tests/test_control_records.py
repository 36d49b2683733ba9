"""Control-point records: grade spellings, kinds, provenance, dates, record invariants."""

from __future__ import annotations

import datetime as dt

import pytest

from geobase.control.records import (
    ControlPoint,
    grade_label,
    parse_epoch,
    parse_grade,
    parse_grades,
    parse_kind,
    parse_mark_type,
    parse_source,
)
from geobase.dates import parse_date
from geobase.errors import InvalidCoordinates, UnknownGrade, ValidationError


@pytest.mark.parametrize(
    ("text", "kind", "expected"),
    [
        ("C", None, ("gnss", "C")),
        ("C级", None, ("gnss", "C")),
        ("c级", None, ("gnss", "C")),
        ("GNSS C", None, ("gnss", "C")),
        ("GPS E级", None, ("gnss", "E")),
        ("D级GNSS点", None, ("gnss", "D")),
        ("三等水准", None, ("levelling", "L3")),
        ("水准二等", None, ("levelling", "L2")),
        ("4等水准", None, ("levelling", "L4")),
        ("L1", None, ("levelling", "L1")),
        ("三等", "levelling", ("levelling", "L3")),
        ("一等", "levelling", ("levelling", "L1")),
        ("三等", "city", ("cjj", "CJJ-3")),
        ("三等", None, ("cjj", "CJJ-3")),
        ("一级", None, ("cjj", "CJJ-I")),
        ("二级", "city", ("cjj", "CJJ-II")),
        ("CJJ-II", None, ("cjj", "CJJ-II")),
        ("CORS", None, ("cors", "CORS")),
        ("基准站", None, ("cors", "CORS")),
    ],
)
def test_grade_spellings_normalise(text, kind, expected):
    assert tuple(parse_grade(text, kind)) == expected


@pytest.mark.parametrize("text", ["F", "Z级", "五等水准", "三级", "", "一等"])
def test_unknown_grades_are_refused_with_the_accepted_forms(text):
    with pytest.raises(UnknownGrade, match="grade"):
        parse_grade(text)


def test_a_point_carries_several_schemes_but_one_grade_per_scheme():
    assert parse_grades("C级;四等水准、一级") == {"gnss": "C", "levelling": "L4", "cjj": "CJJ-I"}
    with pytest.raises(UnknownGrade, match="one grade per scheme"):
        parse_grades("C级;D级")


@pytest.mark.parametrize(
    ("code", "label"),
    [
        ("C", "C级"),
        ("L3", "三等水准"),
        ("CJJ-2", "CJJ 二等"),
        ("CJJ-II", "CJJ 二级"),
        ("CORS", "CORS"),
    ],
)
def test_grade_labels_round_trip(code, label):
    assert grade_label(code) == label
    assert parse_grade(label).code == code


def test_kinds_sources_and_mark_types_accept_chinese():
    assert parse_kind("水准点") == "levelling"
    assert parse_kind("基准站") == "cors"
    assert parse_source("平差") == "adjusted"
    assert parse_source("图解") == "scaled"
    assert parse_mark_type("强制对中观测墩") == "pillar"
    for fn, bad in ((parse_kind, "tower"), (parse_source, "guessed"), (parse_mark_type, "stone")):
        with pytest.raises(ValidationError, match="expected"):
            fn(bad)


def test_dates_and_epochs():
    # control sheets' dates go through the one parser; a year or month alone is allowed
    assert parse_date("2021年3月5日", partial=True) == dt.date(2021, 3, 5)
    assert parse_date("2021/03/05", partial=True) == dt.date(2021, 3, 5)
    assert parse_date("2021", partial=True) == dt.date(2021, 1, 1)
    assert parse_epoch("2021.5") == 2021.5
    assert parse_epoch("2021-07-02") == pytest.approx(2021.5, abs=0.01)
    with pytest.raises(ValidationError, match="not a date"):
        parse_date("yesterday")
    with pytest.raises(ValidationError, match="no such day"):
        parse_date("2021-02-30")
    with pytest.raises(ValidationError, match="outside"):
        parse_epoch("3000")


def _point(**changes):
    values = dict(
        point_id="C1",
        name="测试",
        kind="gnss",
        lon=116.68,
        lat=23.35,
        x_north=2583000.0,
        y_east=467000.0,
        gk_epsg=4548,
        geo_source="adjusted",
        grid_source="converted",
        gnss_grade="C",
    )
    values.update(changes)
    return ControlPoint(**values)


def test_control_point_validates_at_construction():
    point = _point(level_grade="L4")
    assert point.grades == {"gnss": "C", "levelling": "L4"}
    assert point.grade_text == "C级; 四等水准"
    with pytest.raises(ValidationError, match="needs a gnss grade"):
        _point(gnss_grade=None)
    with pytest.raises(UnknownGrade):
        _point(gnss_grade="F")
    with pytest.raises(ValidationError, match="blanks"):
        _point(point_id="C 1")
    with pytest.raises(InvalidCoordinates):
        _point(lat=123.0)
    with pytest.raises(ValidationError, match="normal height without"):
        _point(normal_h=3.0)
    # a CORS station needs no grade
    assert _point(kind="cors", gnss_grade=None, cors=True).grades == {"cors": "CORS"}
