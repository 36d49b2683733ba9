"""Delivery acceptance checks (geobase qc, ingest --qc): a generated delivery set with
one planted defect of each kind, each reported at its place; clean files report none;
the real sample files give no unexplained blocking defect."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely
from pyproj import Transformer

from geobase.qc import check_delivery
from tests import qc_factories as f
from tests.conftest import run_cli

TO_LONLAT = Transformer.from_crs("EPSG:4548", "EPSG:4490", always_xy=True)


def lonlat(x: float, y: float) -> shapely.Point:
    return shapely.Point(*TO_LONLAT.transform(x, y))


def near(geom: shapely.Geometry, x: float, y: float, metres: float) -> bool:
    """Whether the defect's place (lon/lat) lies within ``metres`` of the GK point."""
    return geom.distance(lonlat(x, y)) <= metres / 111_000


@pytest.fixture(scope="module")
def delivery(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("delivery")
    return {
        "a": f.ortho(d / "a.tif"),
        "b": f.ortho(d / "b.tif", col0=150),
        "seam": f.ortho(d / "seam.tif", col0=150, shift_m=1.5),
        "hole": f.ortho(d / "hole.tif", hole=True),
        "zone": f.ortho(d / "zone.tif", crs="EPSG:4547"),
        "dem1": f.dem(d / "dem1.tif"),
        "dem2": f.dem(d / "dem2.tif", col0=100),
        "dem_bad": f.dem(d / "dem_bad.tif", col0=100, step=2.0, spikes=True),
        "las": f.las(d / "clean.las"),
        "las_bad": f.las(d / "bad.las", sparse_box=(0, 0, 40, 40), bad_code=True, header_shift=30),
        "dlg_w": f.dlg(d / "sheet_w.gpkg"),
        "dlg_e": f.dlg(d / "sheet_e.gpkg", east=True),
        "dlg_bad": f.dlg(d / "sheet_e_bad.gpkg", east=True, defects=True),
    }


@pytest.mark.parametrize(
    ("files", "product"),
    [
        (["a", "b"], "dom05"),
        (["dem1", "dem2"], "dem"),
        (["las"], "pointcloud"),
        (["dlg_w", "dlg_e"], "dlg500"),
    ],
)
def test_clean_files_report_no_defect(delivery, files, product):
    report = check_delivery([delivery[k] for k in files], product)
    assert report.defects == [], [d.message for d in report.defects]
    assert report.passed
    # the checks of the kind ran on every file (not a pass by skipping)
    for k in files:
        assert len(report.checks[str(delivery[k])]) >= 5


def _by_check(report) -> dict[str, list]:
    out: dict[str, list] = {}
    for d in report.defects:
        out.setdefault(d.check, []).append(d)
    return out


def test_imagery_defects_at_their_places(delivery):
    report = check_delivery([delivery["hole"], delivery["zone"]], "dom05")
    found = _by_check(report)
    (hole,) = found["dom.nodata_hole"]
    assert hole.file == str(delivery["hole"]) and hole.severity == "blocking"
    assert hole.value == pytest.approx(100, rel=0.05)
    # the hole: rows 80..100, cols 60..80 at 0.5 m
    assert hole.geometry.contains(lonlat(f.EAST0 + 35, f.NORTH0 + 55))
    (zone,) = found["dom.crs_zone"]
    assert zone.file == str(delivery["zone"]) and zone.value == "EPSG:4547"
    assert zone.geometry.contains(lonlat(f.EAST0 + 50, f.NORTH0 + 50))


def test_seam_offset_of_one_and_a_half_metres(delivery):
    report = check_delivery([delivery["a"], delivery["seam"]], "dom05")
    (seam,) = report.defects
    assert seam.check == "dom.seam_offset" and seam.severity == "blocking"
    assert seam.value == pytest.approx(1.5, abs=0.05)  # metres
    # placed on the overlap: canvas columns 150..200 of tile a (75..100 m east)
    assert seam.geometry.contains(lonlat(f.EAST0 + 87, f.NORTH0 + 50))
    assert not seam.geometry.contains(lonlat(f.EAST0 + 20, f.NORTH0 + 50))


def test_dem_defects_at_their_places(delivery):
    report = check_delivery([delivery["dem1"], delivery["dem_bad"]], "dem")
    found = _by_check(report)
    spikes = found["dem.spike"]
    assert len(spikes) == 2
    for row, col in ((20, 30), (70, 60)):
        x, y = f.dem_cell_centre(row, col + 100)
        assert any(near(s.geometry, x, y, 1.0) for s in spikes)
    (pit,) = found["dem.pit"]
    assert near(pit.geometry, *f.dem_cell_centre(40, 180), 1.0)
    (void,) = found["dem.void"]
    assert void.geometry.contains(lonlat(*f.dem_cell_centre(62, 112)))
    (step,) = found["dem.tile_step"]
    assert step.value == pytest.approx(2.0, abs=0.1)
    assert near(step.geometry, f.EAST0 + 100, f.NORTH0 + 50, 1.0)
    assert set(found) == {"dem.spike", "dem.pit", "dem.void", "dem.tile_step"}


def test_point_cloud_defects_at_their_places(delivery):
    report = check_delivery([delivery["las_bad"]], "pointcloud")
    found = _by_check(report)
    (density,) = found["las.density"]
    # the sparse 40 m square in the south-west corner; the dense rest is not in it
    assert density.geometry.contains(lonlat(f.EAST0 + 25, f.NORTH0 + 25))
    assert not density.geometry.contains(lonlat(f.EAST0 + 75, f.NORTH0 + 75))
    (bounds,) = found["las.header_bounds"]
    assert bounds.value == pytest.approx(30, abs=0.1)
    (codes,) = found["las.class_code"]
    assert codes.value == "40"
    assert set(found) == {"las.density", "las.header_bounds", "las.class_code"}


def test_gps_time_outside_the_stated_window(delivery):
    report = check_delivery([delivery["las"]], "pointcloud", acquired="2024-05-01/2024-05-03")
    (late,) = report.defects
    assert late.check == "las.gps_time" and late.value == 80_000


def test_dlg_defects_at_their_places(delivery):
    report = check_delivery([delivery["dlg_w"], delivery["dlg_bad"]], "dlg500")
    found = _by_check(report)
    x0, y0 = f.SHEET_W[0] + f.SHEET, f.SHEET_W[1]
    road_y = y0 + 150
    (invalid,) = found["dlg.invalid_geometry"]
    assert near(invalid.geometry, x0 + 70, y0 + 30, 0.01)
    (under,) = found["dlg.undershoot"]
    assert near(under.geometry, x0 + 60, road_y, 0.1) and under.value == pytest.approx(0.05)
    (over,) = found["dlg.overshoot"]
    assert near(over.geometry, x0 + 80, road_y, 0.1)
    (missing,) = found["dlg.code_missing"]
    assert missing.geometry.contains(lonlat(x0 + 105, y0 + 25))
    (dup,) = found["dlg.duplicate"]
    assert dup.geometry.contains(lonlat(x0 + 30, y0 + 27))
    (gap,) = found["dlg.gap"]
    assert gap.geometry.contains(lonlat(x0 + 205, y0 + 205))
    edges = found["dlg.edge_mismatch"]
    assert {e.file for e in edges} == {str(delivery["dlg_w"]), str(delivery["dlg_bad"])}
    assert all(near(e.geometry, x0, road_y, 1.1) for e in edges)


def test_unknown_code_is_reported(tmp_path):
    path = f.dlg(tmp_path / "w.gpkg")
    frame = gpd.read_file(path, layer="RESA")
    frame["GB"] = ["999999"]
    frame.to_file(path, layer="RESA", driver="GPKG")
    report = check_delivery([path], "dlg500")
    (unknown,) = report.defects
    assert unknown.check == "dlg.code_unknown" and unknown.value == "999999"


def test_thresholds_from_the_product_settings(delivery):
    settings = {"dom05": {"hole_min_area_m2": 200.0}}
    assert check_delivery([delivery["hole"]], "dom05", settings=settings).defects == []
    settings = {"dom05": {"severity": {"dom.nodata_hole": "minor"}}}
    report = check_delivery([delivery["hole"]], "dom05", settings=settings)
    assert [d.severity for d in report.defects] == ["minor"] and report.passed


def test_real_files_give_no_unexplained_blocking_defect(real_data):
    # each file checked against its own CRS: the bureau's zone would refuse them all
    # (they are not CGCS2000), which is right but hides the other checks
    report = check_delivery([real_data / "RGB.byte.tif"], "imagery", crs="EPSG:32618")
    blocking = {d.check for d in report.blocking}
    # pixels inside the scene at the nodata value 0 in all three bands (dark water):
    # no data by the file's own declaration, so holes; the rest is minor (saturation)
    assert blocking == {"dom.nodata_hole"}
    report = check_delivery([real_data / "shade.tif"], "imagery", crs="EPSG:3857")
    # one band of a hillshade is not an RGB orthophoto; its slopes in full shadow are
    # flat black (0) over whole cells, which the blank rule cannot tell from fill
    assert {d.check for d in report.blocking} <= {
        "dom.bands",
        "dom.nodata_hole",
        "dom.blank_patch",
    }
    assert "dom.bands" in {d.check for d in report.blocking}
    report = check_delivery(
        [real_data / "autzen_trim.laz"],
        "pointcloud",
        crs=open_crs(real_data / "autzen_trim.laz"),
    )
    # the trimmed sample is thinned unevenly: about 1.2 points/m2 on average with cells
    # holding one point per 100 m2, below any airborne spec (4 points/m2 by default): a
    # true shortfall. Codes, ground, header, duplicates and scan angles all pass.
    assert {d.check for d in report.blocking} == {"las.density"}
    assert report.blocking[0].value > 0.5
    report = check_delivery([real_data / "simple.las"], "pointcloud")
    assert {d.check for d in report.blocking} == {"las.crs_missing"}  # it states no CRS


def open_crs(path: Path):
    from geobase.ingest.pointcloud import read_header

    return read_header(path).crs


# --- the command line ------------------------------------------------------------------


def test_cli_exit_codes_json_and_reports(delivery, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ok = run_cli(["qc", delivery["a"], delivery["b"], "--product", "dom05"])
    assert ok.exit_code == 0, ok.stderr
    bad = run_cli(
        [
            "qc",
            delivery["a"],
            delivery["seam"],
            "--product",
            "dom05",
            "--format",
            "json",
            "-o",
            tmp_path / "report.html",
        ]
    )
    assert bad.exit_code == 3, bad.stderr
    data = json.loads(bad.stdout)
    (defect,) = data["defects"]
    assert set(defect) == {"file", "check", "severity", "value", "threshold", "message", "geometry"}
    assert defect["file"] == str(delivery["a"]) and defect["geometry"]["type"] == "Polygon"
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "接边错位" in page and "seam offset" in page and "<svg" in page
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    layer = gpd.read_file(tmp_path / "report.gpkg", layer="qc_defects")
    assert list(layer["check"]) == ["dom.seam_offset"] and layer.crs.to_epsg() == 4490
    again = run_cli(["qc", delivery["a"], "--product", "dom05", "-o", tmp_path / "report.html"])
    assert again.exit_code == 2 and "exists" in again.stderr


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["missing.tif", "--product", "dom05"], "no such file"),
        (["{a}", "--product", "nope"], "unknown product"),
        (["{las}", "--product", "dom05"], "product dom05 is imagery"),
        (["{a}", "--product", "model3d"], "no acceptance checks"),
        (["{a}", "--product", "dom05", "-o", "x.txt"], ".html"),
        (["{a}", "--product", "dom05", "--crs", "EPSG:99999"], "EPSG:99999"),
    ],
)
def test_cli_bad_input_exit_2(delivery, tmp_path, monkeypatch, args, words):
    monkeypatch.chdir(tmp_path)
    args = [a.format(a=delivery["a"], las=delivery["las"]) for a in args]
    result = run_cli(["qc", *args])
    assert result.exit_code == 2, result.stderr
    assert words in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_workspace_thresholds_and_bad_config(delivery, workspace):
    toml = workspace.root / "geobase.toml"
    toml.write_text(
        toml.read_text(encoding="utf-8") + "\n[qc.dom05]\nhole_min_area_m2 = 200.0\n",
        encoding="utf-8",
    )
    args = ["qc", delivery["hole"], "--product", "dom05", "--workspace", workspace.root]
    assert run_cli(args).exit_code == 0
    toml.write_text(
        toml.read_text(encoding="utf-8").replace("hole_min_area_m2", "hole_area"),
        encoding="utf-8",
    )
    result = run_cli(args)
    assert result.exit_code == 2 and "[qc.dom05] hole_area: unknown key" in result.stderr


def test_ingest_qc_refuses_records_nothing_then_accepts_with_reason(delivery, workspace_any):
    # on both stores: migration m0008 and the recording in the ingest's transaction
    root = workspace_any.root
    args = ["ingest", delivery["hole"], "--product", "dom05", "--qc", "--workspace", root]
    refused = run_cli(args)
    assert refused.exit_code == 3, refused.stderr
    assert "refused" in refused.stderr and "nothing was recorded" in refused.stderr
    listed = run_cli(["catalog", "list", "--format", "json", "--workspace", root])
    assert json.loads(listed.stdout) == []
    assert not any((root / "data").rglob("*.tif")) if (root / "data").exists() else True
    reason = "hole over the reservoir: accepted by the project manager, 2024-03-05"
    accepted = run_cli([*args, "--accept-defects", reason])
    assert accepted.exit_code == 0, accepted.stderr
    shown = run_cli(["catalog", "show", "hole", "--workspace", root])
    qc = json.loads(shown.stdout)["qc"]
    assert qc["accepted_reason"] == reason and qc["blocking"] == 1 and not qc["passed"]
    assert [d["check"] for d in qc["defects"]] == ["dom.nodata_hole"]
    clean = run_cli(["ingest", delivery["a"], "--product", "dom05", "--qc", "--workspace", root])
    assert clean.exit_code == 0, clean.stderr
    qc = json.loads(run_cli(["catalog", "show", "a", "--workspace", root]).stdout)["qc"]
    assert qc["passed"] and qc["accepted_reason"] is None and "dom.nodata_hole" in qc["checks"]


def test_ingest_accept_defects_needs_qc(delivery, workspace):
    result = run_cli(
        ["ingest", delivery["a"], "--accept-defects", "x", "--workspace", workspace.root]
    )
    assert result.exit_code == 2 and "--accept-defects goes with --qc" in result.stderr


def test_seam_with_catalogued_data_inside_a_workspace(delivery, workspace):
    root = workspace.root
    ingested = run_cli(["ingest", delivery["a"], "--product", "dom05", "--workspace", root])
    assert ingested.exit_code == 0, ingested.stderr
    result = run_cli(
        ["qc", delivery["seam"], "--product", "dom05", "--format", "json", "--workspace", root]
    )
    assert result.exit_code == 3, result.stderr
    (seam,) = json.loads(result.stdout)["defects"]
    assert seam["check"] == "dom.seam_offset" and "catalogued a v1" in seam["message"]
    assert seam["value"] == pytest.approx(1.5, abs=0.05)


def test_defects_of_every_geometry_type_in_one_geopackage(delivery, tmp_path):
    from geobase.qc.output import LAYER, write_gpkg, write_html

    report = check_delivery([delivery["dlg_w"], delivery["dlg_bad"]], "dlg500")
    write_gpkg(report, tmp_path / "d.gpkg")
    layer = gpd.read_file(tmp_path / "d.gpkg", layer=LAYER)
    assert len(layer) == len(report.defects)
    assert {"Point", "LineString", "Polygon"} <= set(layer.geom_type)
    assert set(layer.columns) >= {"file", "check", "severity", "value", "threshold"}
    page = write_html(report, tmp_path / "d.html").read_text(encoding="utf-8")
    assert page.count("<svg") == len(report.defects) and "悬挂点" in page


def test_catalog_show_table_lists_the_checks(delivery, workspace):
    root = workspace.root
    reason = "hole over the reservoir"
    args = ["ingest", delivery["hole"], "--product", "dom05", "--qc", "--workspace", root]
    assert run_cli([*args, "--accept-defects", reason]).exit_code == 0
    shown = run_cli(["catalog", "show", "hole", "--format", "table", "--workspace", root])
    assert shown.exit_code == 0, shown.stderr
    assert "accepted with 1 blocking, 0 minor defect(s)" in shown.stdout
    assert reason in shown.stdout and "dom.nodata_hole" in shown.stdout


def test_more_point_cloud_checks(tmp_path):
    path = f.las(tmp_path / "w.las", density=2.0, wide_angles=0.05, duplicates=200)
    found = _by_check(check_delivery([path], "pointcloud"))
    (angles,) = found["las.scan_angle"]
    assert angles.value == pytest.approx(0.05, abs=0.01) and angles.severity == "minor"
    (dups,) = found["las.duplicates"]
    assert dups.message.startswith("200 duplicate points")
    # 2 points/m2 everywhere: every inner cell is short of the default 4
    assert found["las.density"][0].value == 1.0


def test_more_dem_checks(tmp_path):
    high = f.dem(tmp_path / "high.tif", step=1500.0)
    (out,) = check_delivery([high], "dem").defects
    assert out.check == "dem.range" and out.value > 1200
    undeclared = f.dem(tmp_path / "plain.tif")
    undeclared.with_suffix(".json").unlink()
    (datum,) = check_delivery([undeclared], "dem").defects
    assert datum.check == "dem.vertical_datum" and datum.severity == "minor"


def test_more_imagery_checks(tmp_path):
    import rasterio

    # 0.5 m is coarser than dom005's 0.05 m; no sidecar: no date, sensor or producer
    plain = f.ortho(tmp_path / "plain.tif")
    plain.with_suffix(".json").unlink()
    found = _by_check(check_delivery([plain], "dom005"))
    assert found["dom.resolution"][0].value == 0.5
    assert found["dom.metadata"][0].value == "acquired, sensor, producer"
    # a black fill not declared as no data, a saturated patch, one band, striped layout
    data = f.CANVAS[:, :, : f.SIZE].copy()
    data[:, 10:50, 10:50] = 1  # 20 m x 20 m of black
    data[:, 120:160, 120:160] = 255  # 20 m x 20 m of white
    profile = {
        "driver": "GTiff",
        "width": f.SIZE,
        "height": f.SIZE,
        "count": 3,
        "dtype": "uint8",
        "crs": "EPSG:4548",
        "transform": rasterio.Affine(f.RES, 0, f.EAST0, 0, -f.RES, f.NORTH0 + f.SIZE * f.RES),
        "nodata": 0,
    }
    with rasterio.open(tmp_path / "fill.tif", "w", **profile) as ds:
        ds.write(data)
    found = _by_check(check_delivery([tmp_path / "fill.tif"], "dom05"))
    (blank,) = found["dom.blank_patch"]
    assert blank.geometry.contains(lonlat(f.EAST0 + 15, f.NORTH0 + 85))
    (white,) = found["dom.saturated_patch"]
    assert white.geometry.contains(lonlat(f.EAST0 + 70, f.NORTH0 + 30))
    big = {**profile, "width": 600, "height": 600}
    with rasterio.open(tmp_path / "striped.tif", "w", **big) as ds:
        ds.write(np.tile(f.CANVAS[:, :, :200], (1, 3, 3)))  # striped, no overviews
    (cog,) = _by_check(check_delivery([tmp_path / "striped.tif"], "dom05"))["dom.cog"]
    assert "not tiled" in cog.message and cog.severity == "minor"
    with rasterio.open(tmp_path / "one.tif", "w", **{**profile, "count": 1}) as ds:
        ds.write(data[:1])
    assert "dom.bands" in _by_check(check_delivery([tmp_path / "one.tif"], "dom05"))


def test_overlaps_in_a_coverage_layer(tmp_path):
    path = f.dlg(tmp_path / "w.gpkg")
    cover = gpd.read_file(path, layer="LCA")
    x0, y0 = f.SHEET_W
    cover.loc[0, "geometry"] = shapely.box(x0, y0, x0 + 130, y0 + f.SHEET)  # 5 m into the next
    cover.to_file(path, layer="LCA", driver="GPKG")
    (overlap,) = check_delivery([path], "dlg500").defects
    assert overlap.check == "dlg.overlap" and overlap.value == pytest.approx(5 * f.SHEET)
    assert overlap.geometry.contains(lonlat(x0 + 127.5, y0 + 100))


def test_qc_results_travel_with_store_copy(delivery, workspace, pg_url):
    root = workspace.root
    args = ["ingest", delivery["hole"], "--product", "dom05", "--qc", "--workspace", root]
    assert run_cli([*args, "--accept-defects", "reservoir"]).exit_code == 0
    copied = run_cli(["store", "copy", root, pg_url])
    assert copied.exit_code == 0, copied.stderr
    from geobase.catalog.quality import qc_result
    from geobase.store.workspace import open_store

    with open_store(pg_url) as pg:
        qc = qc_result(pg, "hole", 1)
        with pg.read() as tx:
            geom = tx.query_one("SELECT ST_AsText(geom) AS g FROM dataset_qc_defects")["g"]
    assert qc["accepted_reason"] == "reservoir" and qc["defects"][0]["check"] == "dom.nodata_hole"
    assert geom.startswith("POLYGON")


def test_strict_fails_on_minor_defects(delivery, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    plain = f.ortho(tmp_path / "plain.tif")
    plain.with_suffix(".json").unlink()  # metadata missing: minor only
    assert run_cli(["qc", plain, "--product", "dom05"]).exit_code == 0
    assert run_cli(["qc", plain, "--product", "dom05", "--strict"]).exit_code == 3


# --- the fast paths against plain references ------------------------------------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=40, deadline=None)
@given(
    h=st.integers(1, 40),
    w=st.integers(1, 40),
    k=st.integers(1, 9),
    seed=st.integers(0, 2**16),
)
def test_cell_reductions_agree_with_a_plain_loop(h, w, k, seed):
    from geobase.qc.rasters import reduce_cells

    a = np.random.default_rng(seed).integers(0, 256, (h, w), dtype=np.uint8)
    sums, maxs = reduce_cells(a > 100, k, "sum"), reduce_cells(a, k, "max")
    for i in range(-(-h // k)):
        for j in range(-(-w // k)):
            block = a[i * k : (i + 1) * k, j * k : (j + 1) * k]
            assert sums[i, j] == (block > 100).sum() and maxs[i, j] == block.max()


@pytest.mark.parametrize(("shift", "reported"), [(0.35, False), (0.75, True)])
def test_sub_pixel_seam_offsets(tmp_path, delivery, shift, reported):
    other = f.ortho(tmp_path / "s.tif", col0=150, shift_m=shift)
    defects = check_delivery([delivery["a"], other], "dom05").defects
    assert bool(defects) == reported
    if reported:
        assert defects[0].value == pytest.approx(shift, abs=0.1)


def test_a_file_in_another_crs_warns_of_no_crs_option_the_user_did_not_give(
    real_data, tmp_path, monkeypatch, caplog
):
    # outside a workspace the required CRS is EPSG:4548 by default: a file stating
    # another is a crs_zone defect, not an ignored --crs (none was given)
    import logging

    from pyproj import CRS

    from geobase.ingest.raster import read_info

    monkeypatch.chdir(tmp_path)
    for args in ([], ["--crs", "EPSG:4548"]):
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="geobase"):
            result = run_cli(
                ["qc", real_data / "RGB.byte.tif", "--product", "dom05", "--format", "json", *args]
            )
        assert result.exit_code == 3, result.stderr
        assert "is ignored" not in caplog.text + result.stderr, args
        checks = {d["check"]: d for d in json.loads(result.stdout)["defects"]}
        assert checks["dom.crs_zone"]["severity"] == "blocking"
        assert checks["dom.crs_zone"]["value"] == "EPSG:32618"
    # where a user's --crs is overridden by the file's own CRS (ingest), it is said
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="geobase"):
        info = read_info(real_data / "RGB.byte.tif", CRS.from_epsg(4548))
    assert info.crs.to_epsg() == 32618
    assert "RGB.byte.tif states WGS 84 / UTM zone 18N; --crs" in caplog.text
    assert "is ignored" in caplog.text
