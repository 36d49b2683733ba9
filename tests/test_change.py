"""Change discovery (issue 19) on generated pairs with planted changes.

Imagery: new and demolished buildings 5-40 m across, a per-band gain / offset / gamma
change, sensor noise and a sub-pixel shift between epochs (tests/change_support.py).
The detector must find >= 90 % of the planted changes (half their area covered) with
>= 85 % of its area on planted change; plain differencing on the same pair is shown
beside it and must do much worse.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import warnings

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import rasterio
import shapely
from affine import Affine
from hypothesis import given, settings
from hypothesis import strategies as st
from rasterio import features

from geobase.change import detect_changes, results
from geobase.change.epochs import resolve_epoch
from geobase.change.sheets import sheet_priorities
from geobase.sheets import rect_sheet_bounds, rect_sheet_codes
from tests.change_support import (
    X0,
    Y0,
    elevation_pair,
    imagery_pair,
    plain_difference,
    score,
)
from tests.conftest import run_cli


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pair")
    before, after, planted = imagery_pair(folder)
    result = detect_changes(
        resolve_epoch(str(before), "before", date=dt.date(2023, 5, 1)),
        resolve_epoch(str(after), "after", date=dt.date(2024, 5, 1)),
    )
    return folder, before, after, planted, result


def test_planted_imagery_changes_found_and_plain_differencing_worse(pair):
    _, before, after, planted, result = pair
    recall, precision = score(result.changes.geometry, planted)
    plain_recall, plain_precision = score(plain_difference(before, after, 10.0), planted)
    numbers = (
        f"IR-MAD + normalisation: found {recall:.0%} of {len(planted)} planted, "
        f"{precision:.0%} of detected area planted; plain differencing: found "
        f"{plain_recall:.0%}, {plain_precision:.0%}"
    )
    print(numbers)
    assert recall >= 0.90, numbers
    assert precision >= 0.85, numbers
    # plain differencing misses what the gain / gamma change hides (or drowns in it)
    assert plain_recall * plain_precision < recall * precision - 0.3, numbers
    reg = result.summary["evidence"]["imagery"]["registration"]
    # planted: after's content moved by (+0.35, -0.45) px
    assert reg["shift_px"] == pytest.approx([0.35, -0.45], abs=0.1)
    assert reg["shift_m"] == pytest.approx(0.5 * math.hypot(0.35, 0.45), abs=0.05)


def test_changes_carry_dates_ids_and_scores(pair):
    _, _, _, _, result = pair
    frame = result.changes
    assert set(frame["kind"]) == {"changed"}
    assert set(frame["evidence"]) == {"imagery"}
    assert (frame["before_date"] == "2023-05-01").all()
    assert (frame["after_date"] == "2024-05-01").all()
    assert (frame["before_ids"] == "before.tif").all()
    assert (frame["area_m2"] >= 10.0).all()
    assert (frame["score"] > 1).all()  # mean statistic over the threshold
    assert frame["area_m2"].is_monotonic_decreasing
    assert result.summary["evidence"]["imagery"]["normalisation"]["invariant_share"] > 0.8
    # a threshold from the chi-square distribution, 3 bands, p = 0.001
    assert result.summary["evidence"]["imagery"]["chi2_threshold"] == pytest.approx(16.27, 0.01)


def test_windows_and_workers_give_the_same_changes(pair):
    _, before, after, _, result = pair
    small = detect_changes(
        resolve_epoch(str(before), "before", date=dt.date(2023, 5, 1)),
        resolve_epoch(str(after), "after", date=dt.date(2024, 5, 1)),
        window=128,
        workers=2,
    )
    a = shapely.union_all(np.asarray(result.changes.geometry.values))
    b = shapely.union_all(np.asarray(small.changes.geometry.values))
    assert shapely.symmetric_difference(a, b).area < 0.01 * a.area
    assert len(small.changes) == len(result.changes)


def test_compiled_kernel_agrees_with_the_numpy_reference(pair, monkeypatch):
    from geobase.change import kernels
    from geobase.change.windows import _kernel_fits, run_window

    if not kernels.enabled():
        pytest.skip("numba is not installed")
    _, _, _, _, result = pair
    modality = result.modalities["imagery"]
    assert _kernel_fits(modality)
    window = (100, 150, 400, 420)
    fast = run_window(modality, window)
    monkeypatch.setenv("GEOBASE_CHANGE_KERNEL", "numpy")
    assert not _kernel_fits(modality)
    slow = run_window(modality, window)
    assert (fast.valid_before, fast.valid_both) == (slow.valid_before, slow.valid_both)
    assert fast.changed_raw == pytest.approx(slow.changed_raw, rel=0.002)
    a = shapely.union_all([p.geometry for p in fast.pieces])
    b = shapely.union_all([p.geometry for p in slow.pieces])
    assert shapely.symmetric_difference(a, b).area <= 0.002 * a.area
    assert sum(p.score_sum for p in fast.pieces) == pytest.approx(
        sum(p.score_sum for p in slow.pieces), rel=0.01
    )


def test_elevation_buildings_and_excavation_found_bias_ignored(tmp_path):
    before, after, planted = elevation_pair(tmp_path, bias=0.3)
    result = detect_changes(resolve_epoch(str(before), "b"), resolve_epoch(str(after), "a"))
    info = result.summary["evidence"]["elevation"]
    assert info["vertical_offset_m"] == pytest.approx(0.3, abs=0.02)
    assert info["threshold_from"].startswith("data")
    recall, precision = score(result.changes.geometry, planted)
    assert recall == 1.0
    assert precision >= 0.9  # the 0.3 m bias is not reported anywhere
    for item in planted:
        hit = result.changes[result.changes.intersects(item.geometry)]
        expected = "new/raised" if item.kind == "new" else "removed/lowered"
        assert set(hit["kind"]) == {expected}
        mean = float(hit["height_m"].iloc[0])
        assert mean == pytest.approx(3.0 if item.kind == "new" else -2.0, abs=0.2)


def _dsm_for(planted, path, size=600, res=0.5, bias=0.3):
    """DSMs of the imagery pair's scene: its planted buildings 3 m high, a 0.3 m bias."""
    rng = np.random.default_rng(5)
    transform = Affine(res, 0, X0, 0, -res, Y0)

    def burn(kind):
        shapes = [p.geometry for p in planted if p.kind == kind]
        return features.rasterize(shapes, (size, size), transform=transform).astype(np.float32)

    before = 10 + 3 * burn("removed") + rng.normal(0, 0.05, (size, size))
    after = 10 + 3 * burn("new") + bias + rng.normal(0, 0.05, (size, size))
    profile = dict(driver="GTiff", width=size, height=size, count=1, dtype="float32",
                   crs="EPSG:4548", transform=transform, nodata=-9999.0)  # fmt: skip
    paths = path / "dsm_before.tif", path / "dsm_after.tif"
    for target, data in zip(paths, (before, after), strict=True):
        with rasterio.open(target, "w", **profile) as dst:
            dst.write(data.astype(np.float32)[None])
    return paths


def test_imagery_and_elevation_polygons_name_their_evidence(pair, tmp_path):
    _, before, after, planted, _ = pair
    dsm_b, dsm_a = _dsm_for(planted, tmp_path)
    result = detect_changes(
        resolve_epoch(f"{before},{dsm_b}", "before"), resolve_epoch(f"{after},{dsm_a}", "after")
    )
    frame = result.changes
    for item in planted:
        hit = frame[frame.intersects(item.geometry)]
        assert "elevation+imagery" in set(hit["evidence"]), item
        expected = "new/raised" if item.kind == "new" else "removed/lowered"
        assert expected in set(hit["kind"])
    assert set(frame["evidence"]) <= {"elevation+imagery", "imagery", "elevation"}


# --- sheets -------------------------------------------------------------------------------


def _brute_force(changes: gpd.GeoDataFrame, maps: gpd.GeoDataFrame) -> list[tuple]:
    """Every 1:500 sheet over the changes' box, cut against every polygon, one by one."""
    west, south, east, north = changes.total_bounds
    rows = []
    for e in np.arange(math.floor(west / 250) * 250, east, 250.0):
        for n in np.arange(math.floor(south / 250) * 250, north, 250.0):
            code = str(rect_sheet_codes(np.array([e + 1]), np.array([n + 1]), 500)[0])
            box = shapely.box(*rect_sheet_bounds(code, 500))
            area = sum(box.intersection(g).area for g in changes.geometry)
            if area <= 0:
                continue
            change = max(
                d for g, d in zip(changes.geometry, changes["after_date"], strict=True)
                if box.intersection(g).area > 0
            )  # fmt: skip
            dates = [d for g, d in zip(maps.geometry, maps["acquired_end"], strict=True)
                     if g.intersects(box)]  # fmt: skip
            map_date = max(dates) if dates else None
            needs = map_date is None or map_date < change
            age = (
                (dt.date.fromisoformat(changes["after_date"].max())
                 - dt.date.fromisoformat(map_date)).days / 365.25
                if map_date else math.inf
            )  # fmt: skip
            rows.append((not needs, -area, -age, code, area, map_date))
    rows.sort()
    return [(r[3], r[4], r[5]) for r in rows]


@pytest.mark.parametrize("seed", [1, 2])
def test_sheet_ranking_equals_a_brute_force_overlay(seed):
    rng = np.random.default_rng(seed)
    polys, dates = [], []
    for _ in range(40):
        x = X0 + rng.uniform(0, 900)
        y = Y0 - rng.uniform(0, 900)
        w, h = rng.uniform(5, 60, 2)
        polys.append(shapely.box(x, y, x + w, y + h))
        dates.append(f"2024-0{rng.integers(1, 9)}-01")
    changes = gpd.GeoDataFrame({"after_date": dates}, geometry=polys, crs="EPSG:4548")
    maps = gpd.GeoDataFrame(
        {"acquired_end": ["2019-06-01", "2024-03-01", "2021-01-01"]},
        geometry=[
            shapely.box(X0 - 50, Y0 - 400, X0 + 300, Y0 + 10),
            shapely.box(X0 + 400, Y0 - 950, X0 + 700, Y0 - 500),
            shapely.box(X0 + 200, Y0 - 300, X0 + 600, Y0 - 100),
        ],
        crs="EPSG:4548",
    )
    ranked = sheet_priorities(changes, 500, maps=maps, map_product="dlg500")
    expected = _brute_force(changes, maps)
    assert list(ranked["code"]) == [e[0] for e in expected]
    assert ranked["changed_m2"].to_numpy() == pytest.approx([e[1] for e in expected])
    assert [d if isinstance(d, str) else None for d in ranked["map_date"]] == [
        e[2] for e in expected
    ]
    assert list(ranked["rank"]) == list(range(1, len(expected) + 1))
    assert ranked["share"].to_numpy() == pytest.approx(ranked["changed_m2"] / 62500.0)


# --- the command line ---------------------------------------------------------------------


def test_cli_writes_geopackage_html_and_json(pair, tmp_path):
    _, before, after, _, _ = pair
    out = tmp_path / "changes.gpkg"
    result = run_cli(["change", "detect", before, after, "-o", out, "--workers", "1",
                      "--format", "json", "--after-date", "2024-05-01"])  # fmt: skip
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["summary"]["changes"] == len(doc["changes"]["features"]) > 0
    assert doc["sheets"][0]["rank"] == 1
    layers = {name for name, _ in pyogrio.list_layers(out)}
    assert layers == {"changes", "sheets"}
    changes = gpd.read_file(out, layer="changes")
    # the layer is what the reader (and so the viewer) expects, column for column
    assert [c for c in changes.columns if c != "geometry"] == list(results.COLUMNS)
    html = (tmp_path / "changes.html").read_text(encoding="utf-8")
    assert "变化发现报告 Change discovery report" in html
    assert html.count("data:image/png;base64,") >= 2
    assert "<script src" not in html and "http://" not in html and "https://" not in html
    assert "shift" in result.stderr and "warning" not in result.stderr


@settings(max_examples=60, deadline=None)
@given(spec=st.text(min_size=0, max_size=40))
def test_epoch_specs_that_name_nothing_are_one_clear_error(spec, tmp_path_factory):
    from geobase.errors import EpochSpecError, GeobaseError

    folder = tmp_path_factory.mktemp("specs", numbered=True)
    try:
        resolve_epoch(spec, "before", None, cwd=folder)
    except EpochSpecError as err:
        assert "\n" not in str(err) and str(err)
    except GeobaseError as err:  # a name that is a folder, say: still our family
        assert str(err)
    else:  # pragma: no cover - nothing in an empty folder is a raster
        raise AssertionError(f"{spec!r} resolved to something")


def _write(path, data, *, crs="EPSG:4548", x0=X0, y0=Y0, nodata=0):
    profile = dict(driver="GTiff", width=data.shape[2], height=data.shape[1],
                   count=data.shape[0], dtype=data.dtype, crs=crs,
                   transform=Affine(0.5, 0, x0, 0, -0.5, y0), nodata=nodata)  # fmt: skip
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
    return path


@pytest.mark.parametrize(
    "case, message",
    [
        ("far", "do not overlap"),
        ("beijing54", "transformation"),
        ("nodata", "all nodata"),
        ("shifted", "more than --max-shift"),
        ("nocrs", "no CRS"),
    ],
)
def test_bad_inputs_one_line_exit_2_nothing_written(pair, tmp_path, case, message):
    _, before, after, _, _ = pair
    with rasterio.open(after) as src:
        data = src.read()
    if case == "far":
        other = _write(tmp_path / "o.tif", data, x0=X0 + 10_000)
    elif case == "beijing54":
        other = _write(tmp_path / "o.tif", data, crs="EPSG:2436")  # Beijing 1954 GK CM 117E
    elif case == "nodata":
        other = _write(tmp_path / "o.tif", np.zeros_like(data))
    elif case == "shifted":
        other = _write(tmp_path / "o.tif", np.roll(data, (6, -5), axis=(1, 2)))
    else:
        other = _write(tmp_path / "o.tif", data, crs=None)
    out = tmp_path / "c.gpkg"
    result = run_cli(["change", "detect", before, other, "-o", out, "--workers", "1"])
    assert result.exit_code == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert not out.exists() and not out.with_suffix(".html").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_catalogue_epochs_product_at_date_and_map_ages(pair, workspace, tmp_path):
    from geobase.ingest import ingest
    from tests.ingest_factories import square_feature, write_geojson

    _, before, after, _, _ = pair
    ingest(workspace, [before], product="dom05", acquired="2023-05-01", dataset_id="dom-2023")
    ingest(workspace, [after], product="dom05", acquired="2024-05-01", dataset_id="dom-2024")
    dlg = write_geojson(tmp_path / "dlg.geojson", [square_feature(X0, Y0 - 300, 300, name="a")])
    ingest(workspace, [dlg], product="dlg500", acquired="2021-06-01", dataset_id="dlg-2021")
    out = tmp_path / "c.gpkg"
    result = run_cli(["change", "detect", "dom05@2023-12-31", "dom05@2024-12-31", "-o", out,
                      "--workspace", workspace.root, "--workers", "1", "--no-html"])  # fmt: skip
    assert result.exit_code == 0, result.stderr
    changes = gpd.read_file(out, layer="changes")
    assert set(changes["before_ids"]) == {"dom-2023"}
    assert set(changes["after_ids"]) == {"dom-2024"}
    assert set(changes["after_date"]) == {"2024-05-01"}
    sheets = gpd.read_file(out, layer="sheets")
    assert (sheets["map_product"] == "dlg500").all()
    assert set(sheets["map_date"].dropna()) == {"2021-06-01"}
    assert sheets["needs_update"].all()
    assert not out.with_suffix(".html").exists()


def test_coverage_plan_lists_sheets_whose_map_predates_the_change(pair, workspace, tmp_path):
    from geobase.ingest import ingest
    from tests.ingest_factories import square_feature, write_geojson

    _, before, after, _, _ = pair
    out = tmp_path / "c.gpkg"
    result = run_cli(["change", "detect", before, after, "-o", out, "--no-html",
                      "--workers", "1", "--after-date", "2024-05-01"])  # fmt: skip
    assert result.exit_code == 0, result.stderr
    touched = set(gpd.read_file(out, layer="sheets")["code"])
    assert len(touched) >= 2
    old = write_geojson(tmp_path / "old.geojson", [square_feature(X0, Y0 - 500, 500, n="a")])
    ingest(workspace, [old], product="dlg500", acquired="2021-06-01", dataset_id="dlg-2021")
    # one sheet redrawn after the change was seen: no longer a candidate
    new = write_geojson(tmp_path / "new.geojson", [square_feature(X0, Y0 - 250, 250, n="b")])
    ingest(workspace, [new], product="dlg500", acquired="2024-08-01", dataset_id="dlg-2024")
    args = ["coverage", "plan", "--changes", out, "--product", "dlg500",
            "--workspace", workspace.root, "--format", "json"]  # fmt: skip
    result = run_cli(args)
    assert result.exit_code == 0, result.stderr
    rows = json.loads(result.stdout)
    codes = {r["code"] for r in rows}
    assert codes == touched - {"2583.75-467.00"}
    assert {r["map_date"] for r in rows} == {"2021-06-01"}
    assert all(r["change_date"] == "2024-05-01" for r in rows)
    bad = run_cli(["coverage", "plan", "--changes", before, "--workspace", workspace.root])
    assert bad.exit_code == 2 and len(bad.stderr.strip().splitlines()) == 1, bad.stderr


def test_an_epoch_in_another_crs_is_warped_onto_the_grid(pair, tmp_path):
    from rasterio.warp import Resampling, calculate_default_transform, reproject

    _, before, after, planted, _ = pair
    target = tmp_path / "after_4490.tif"
    with rasterio.open(after) as src, warnings.catch_warnings():
        # rasterio's own transform helpers still multiply Affines with * (affine 3.1)
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        transform, width, height = calculate_default_transform(
            src.crs, "EPSG:4490", src.width, src.height, *src.bounds
        )
        profile = dict(src.profile, crs="EPSG:4490", transform=transform, width=width,
                       height=height)  # fmt: skip
        with rasterio.open(target, "w", **profile) as dst:
            for band in (1, 2, 3):
                reproject(rasterio.band(src, band), rasterio.band(dst, band),
                          resampling=Resampling.bilinear, dst_nodata=0)  # fmt: skip
    result = detect_changes(resolve_epoch(str(before), "b"), resolve_epoch(str(target), "a"))
    info = result.summary["evidence"]["imagery"]
    assert info["grid_res_m"] >= 0.5  # the coarser of the two pixels
    assert info["registration"]["shift_m"] < 0.5
    recall, precision = score(result.changes.geometry, planted)
    assert recall >= 0.9 and precision >= 0.85, (recall, precision)
