"""Workspaces that move: a data root for the files, store copy that takes them along.

A GeoPackage workspace copied to PostGIS builds tiles and an emergency package from a new
folder (its files found under the recorded data root); a PostGIS store copied to a new
folder becomes a workspace that opens and finds its files (linked, copied or shared).
"""

from __future__ import annotations

import json
import os
import tomllib

import pytest
import shapely

from geobase.errors import DataFileMissing
from geobase.store import Workspace, open_store
from geobase.store.files import stored_paths
from tests.conftest import run_cli
from tests.test_tiles_build import E0, N0, make_raster

pytestmark = pytest.mark.postgis

POINT = "116.68730,23.37381"  # the centre of the test raster (468030 E, 2585970 N in EPSG:4548)


@pytest.fixture
def office(tmp_path):
    """A GeoPackage workspace with a district, an ingested orthophoto and a pyramid."""
    ws_dir = tmp_path / "office"
    assert run_cli(["init", ws_dir]).exit_code == 0
    ortho = make_raster(tmp_path / "ortho_2024.tif", size=(300, 300), res=0.2, origin=(E0, N0))
    district = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"name": "金平区"},
                "geometry": shapely.geometry.mapping(shapely.box(116.5, 23.2, 116.9, 23.5)),
            }
        ],
    }
    (tmp_path / "district.geojson").write_text(json.dumps(district), encoding="utf-8")
    (ws_dir / "tiles").mkdir()  # a fresh init has none (issue 14 item 5, not here)
    for args in (
        ["districts", "load", tmp_path / "district.geojson"],
        ["ingest", ortho, "--acquired", "2024-03-01", "--classification", "public"],
        ["tiles", "build", "ortho_2024", "--zoom", "16-17", "-o",
         ws_dir / "tiles" / "ortho.pmtiles"],
    ):  # fmt: skip
        result = run_cli([*args, "--workspace", ws_dir])
        assert result.exit_code == 0, (args, result.output)
    return ws_dir


def _config(folder):
    return tomllib.loads((folder / "geobase.toml").read_text(encoding="utf-8"))


def _files_found(folder) -> list[str]:
    """Every path the workspace's records name, each checked to exist (raises if not)."""
    with Workspace.open(folder) as ws:
        paths = stored_paths(ws.store)
        for rel in paths:
            ws.file(rel, must_exist=True)
        return paths


def test_gpkg_to_postgis_builds_tiles_and_an_emergency_package(office, pg_url, tmp_path):
    result = run_cli(["store", "copy", office, pg_url])
    assert result.exit_code == 0, result.output
    assert f"the files stay under {office}" in result.stderr
    assert "geobase init DIR --store" in result.stderr
    # a new folder on this machine: the data root comes from the store
    there = tmp_path / "pg-workspace"
    result = run_cli(["init", there, "--store", pg_url])
    assert result.exit_code == 0, result.output
    assert _config(there)["data_root"] == str(office)
    assert str(office) in result.stderr
    assert len(_files_found(there)) == 3  # dataset version, pyramid, its overview cache
    out = there / "pg.pmtiles"  # a pyramid is recorded only inside its workspace
    (tmp_path / "out").mkdir()
    result = run_cli(["tiles", "build", "dom02", "--zoom", "16-17", "-o", out,
                      "--workspace", there])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert out.stat().st_size > 1000
    package = tmp_path / "out" / "pkg"
    result = run_cli(["emergency", POINT, "--radius", "20", "-o", package,
                      "--workspace", there, "--max-zoom", "16"])  # fmt: skip
    assert result.exit_code == 0, result.output
    manifest = json.loads((package / "manifest.json").read_text(encoding="utf-8"))
    assert [s["dataset_id"] for s in manifest["sources"]] == ["ortho_2024"]
    assert (package / manifest["sources"][0]["file"]).is_file()
    # the server of the PostGIS workspace serves the pyramid under the data root and one
    # built in the workspace folder itself
    (there / "tiles").mkdir()
    result = run_cli(["tiles", "build", "dom02", "--zoom", "16-17", "-o",
                      there / "tiles" / "here.pmtiles", "--workspace", there])  # fmt: skip
    assert result.exit_code == 0, result.output
    import httpx

    from geobase.server import ServerSettings, create_app
    from tests.server_support import running

    app = create_app(ServerSettings.for_workspace(there))
    with running(app) as base, httpx.Client(base_url=base, timeout=20) as client:
        listed = client.get("/api/pyramids").json()["pyramids"]
    assert {p["name"] for p in listed} == {"ortho", "here", "pg"}


def test_data_root_elsewhere_and_missing(office, pg_url, tmp_path):
    assert run_cli(["store", "copy", office, pg_url]).exit_code == 0
    # the archive mounted at another path on this machine: --data-root names it
    mounted = tmp_path / "mnt" / "archive"
    mounted.parent.mkdir()
    os.rename(office, mounted)
    there = tmp_path / "elsewhere"
    result = run_cli(["init", there, "--store", pg_url])
    assert result.exit_code == 2
    assert "--data-root" in result.stderr and str(office) in result.stderr
    assert not (there / "geobase.toml").exists()
    result = run_cli(["init", there, "--store", pg_url, "--data-root", mounted])
    assert result.exit_code == 0, result.output
    _files_found(there)
    result = run_cli(["init", tmp_path / "x", "--store", pg_url, "--data-root", tmp_path / "no"])
    assert result.exit_code == 2 and "not an existing folder" in result.stderr
    # a data root that does not hold the files: the failure names the data root
    with Workspace.open(there) as ws:
        ws.config.data_root = str(tmp_path)
        ws.save_config()
    with Workspace.open(there) as ws, pytest.raises(DataFileMissing, match="data_root"):
        ws.file(stored_paths(ws.store)[0], must_exist=True)
    result = run_cli(["tiles", "build", "dom02", "--zoom", "16-17", "-o", tmp_path / "t.pmtiles",
                      "--workspace", there])  # fmt: skip
    assert result.exit_code == 2 and "not found under the data root" in result.stderr


def test_relative_data_root_in_geobase_toml(office, tmp_path):
    """A relative data_root is taken relative to the workspace folder."""
    there = tmp_path / "sibling"
    result = run_cli(["store", "copy", office, there, "--files", "none"])
    assert result.exit_code == 0, result.output
    assert _config(there)["data_root"] == str(office)
    with Workspace.open(there) as ws:
        ws.config.data_root = "../office"
        ws.save_config()
    with Workspace.open(there) as ws:
        assert ws.data_root.resolve() == office.resolve()
        assert ws.stored_path(office / "data" / "x.tif") == "data/x.tif"
    assert len(_files_found(there)) == 3


@pytest.mark.parametrize("files", ["link", "copy", "none"])
def test_postgis_to_a_new_folder_opens_and_finds_its_files(office, pg_url, tmp_path, files):
    assert run_cli(["store", "copy", office, pg_url]).exit_code == 0
    new = tmp_path / "new" / "shantou"
    result = run_cli(["store", "copy", pg_url, new, "--files", files])
    assert result.exit_code == 0, result.output
    assert "created workspace" in result.stderr
    config = _config(new)
    assert config["store"] == "workspace.gpkg"
    paths = _files_found(new)
    assert len(paths) == 3
    with Workspace.open(new) as ws:
        assert ws.store.dialect == "gpkg"
        path = ws.store.read_frame("SELECT path FROM datasets")["path"].iloc[0]
        stored = ws.file(path)
        original = office / path
        if files == "none":
            assert config["data_root"] == str(office)
            assert stored == original
            assert "ingest into one of them only" in result.stderr
        else:
            assert "data_root" not in config
            assert stored.is_relative_to(new) and stored.read_bytes() == original.read_bytes()
            assert os.path.samefile(stored, original) == (files == "link")
            count = sum(
                1 if (office / p).is_file() else sum(f.is_file() for f in (office / p).rglob("*"))
                for p in paths
            )
            done = f"{count} linked, 0 copied" if files == "link" else f"0 linked, {count} copied"
            assert done in result.stderr
    out = new / "t.pmtiles"
    result = run_cli(["tiles", "build", "ortho_2024", "--zoom", "16-17", "-o", out,
                      "--workspace", new])  # fmt: skip
    assert result.exit_code == 0, result.output


def test_default_link_and_bad_requests(office, pg_url, tmp_path):
    # default: a workspace folder gets its files hard-linked
    new = tmp_path / "linked"
    result = run_cli(["store", "copy", office, new])
    assert result.exit_code == 0, result.output
    assert "linked" in result.stderr
    assert _config(new)["name"] == "office"  # the source's settings travel
    _files_found(new)
    cases = [
        # a PostGIS store holds no files
        ([office, pg_url, "--files", "copy"], "store without a folder for files"),
        # a different file where one would go: nothing written, nothing recorded
        ([office, tmp_path / "clash"], "differs from"),
        ([office, tmp_path / "x", "--data-root", tmp_path / "nowhere"], "no such folder"),
        # a folder with a store but no geobase.toml: never taken for an empty one
        ([office, tmp_path / "halfway"], "holds a workspace.gpkg but no geobase.toml"),
    ]
    (tmp_path / "halfway").mkdir()
    (tmp_path / "halfway" / "workspace.gpkg").write_bytes(b"someone's store")
    clash = tmp_path / "clash" / "data" / "dom02" / "ortho_2024" / "v1"
    clash.mkdir(parents=True)
    (clash / "ortho_2024.tif").write_bytes(b"not the delivery")
    for args, message in cases:
        result = run_cli(["store", "copy", *args])
        assert result.exit_code == 2, (args, result.output)
        assert message in result.stderr, (args, result.stderr)
    assert not (tmp_path / "clash" / "geobase.toml").exists()
    assert sorted(p.name for p in clash.iterdir()) == ["ortho_2024.tif"]
    assert not (tmp_path / "x").exists()
    assert (tmp_path / "halfway" / "workspace.gpkg").read_bytes() == b"someone's store"
    # a store that does not say where its files are, copied with files: refused
    with Workspace.open(office) as ws, ws.store.transaction() as tx:
        tx.execute("DELETE FROM geobase_meta WHERE key = 'data_root'")
    bare = tmp_path / "bare.gpkg"
    assert run_cli(["store", "copy", office, bare]).exit_code == 0
    with open_store(str(bare)) as store, store.transaction() as tx:
        tx.execute("DELETE FROM geobase_meta WHERE key = 'data_root'")
    result = run_cli(["store", "copy", bare, tmp_path / "y"])
    assert result.exit_code == 2 and "--data-root" in result.stderr
    assert not (tmp_path / "y").exists()
    result = run_cli(["store", "copy", bare, tmp_path / "y", "--data-root", office])
    assert result.exit_code == 0, result.output
    _files_found(tmp_path / "y")


def test_into_an_existing_workspace_links_the_files(office, tmp_path):
    other = tmp_path / "other"
    assert run_cli(["init", other]).exit_code == 0
    result = run_cli(["store", "copy", office, other])
    assert result.exit_code == 0, result.output
    assert _files_found(other) == _files_found(office)
    with Workspace.open(other) as ws:
        path = ws.store.read_frame("SELECT path FROM datasets")["path"].iloc[0]
        assert os.path.samefile(ws.file(path), office / path)
        assert ws.file(path).is_relative_to(other)
