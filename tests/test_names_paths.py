"""Names and paths: one pattern for ids and names, nothing written or deleted outside the
workspace (or the output the user named), whatever ``..``, separators or symbolic links
say."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geobase.errors import InvalidName, OutsideWorkspace
from geobase.ingest import ingest
from geobase.ingest.detect import dataset_id_for
from geobase.names import check_existing_name, check_name, is_name
from geobase.paths import inside
from tests.conftest import run_cli
from tests.ingest_factories import write_tif


def one_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in text, text
    return lines[0]


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` (links not followed) with a digest of its content."""
    out = {}
    for path in sorted(folder.rglob("*")):
        rel = str(path.relative_to(folder))
        if path.is_symlink():
            out[rel] = "-> " + os.readlink(path)
        elif path.is_file():
            out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
        else:
            out[rel] = "dir"
    return out


# --- the pattern ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["a", "0", "dom_2023-v1.5", "DOM2023", "a..b", "x" * 128, "a-", "a."]
)
def test_good_names(name):
    assert check_name(name, "dataset id") == name


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("", "is empty"),
        (".", "is a path"),
        ("..", "is a path"),
        ("../../../x", "is a path"),
        ("a/b", "is a path"),
        ("a\\b", "is a path"),
        (".hidden", "starts with '.'"),
        ("-x", "starts with '-'"),
        ("_x", "starts with '_'"),
        ("x" * 129, "129 characters"),
        ("正射影像", "starts with '正'"),
        ("a b", "holds ' '"),
        ("a\n", "holds '\\n'"),
        ("a:b", "holds ':'"),
        (None, "is empty"),
    ],
)
def test_bad_names(name, problem):
    with pytest.raises(InvalidName, match="token name") as err:
        check_name(name, "token name")
    assert problem in str(err.value) and "\n" not in str(err.value)


def test_existing_names_may_be_legacy_but_never_paths():
    assert check_existing_name("正射影像-2023", "dataset id") == "正射影像-2023"
    for bad in ("..", "../x", "a/b", ".x", "", "a\x00b"):
        with pytest.raises(InvalidName):
            check_existing_name(bad, "dataset id")


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=140))
def test_a_name_is_one_safe_path_component(text):
    if is_name(text):
        assert Path(text).name == text and text not in (".", "..")
        assert not text.startswith((".", "-")) and len(text) <= 128
        assert text.isascii()
    else:
        with pytest.raises(InvalidName):
            check_name(text, "name")


@pytest.mark.parametrize(
    "file", ["正射影像_2023.tif", "Ortho 2023 (final).tif", "汕头.las", "a" * 200 + ".tif"]
)
def test_ids_made_from_file_names_are_names(file):
    made = dataset_id_for(Path(file))
    assert is_name(made)
    assert dataset_id_for(Path(file)) == made  # the same file name, the same id
    assert made != dataset_id_for(Path("x" + file))


# --- paths -------------------------------------------------------------------------------


def test_inside_resolves_dots_and_links(tmp_path):
    root = tmp_path / "ws"
    (root / "data").mkdir(parents=True)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    assert inside("data/x", root) == (root / "data" / "x").resolve()
    for escape in ("../elsewhere", "data/../../elsewhere/x", str(outside)):
        with pytest.raises(OutsideWorkspace, match="outside"):
            inside(escape, root)
    (root / "data" / "link").symlink_to(outside)
    with pytest.raises(OutsideWorkspace, match="outside"):
        inside("data/link/x", root)
    (root / "data" / "inner").symlink_to(root / "data")
    assert inside("data/inner/x", root) == (root / "data" / "x").resolve()


# --- at every entry: ingest, catalog remove, tiles build, token create -------------------


@pytest.fixture
def site(tmp_path, workspace):
    """The workspace, a sibling folder holding someone's files, and a delivery."""
    sibling = tmp_path / "sibling"
    (sibling / "x" / "v1").mkdir(parents=True)
    (sibling / "x" / "v1" / "precious.txt").write_text("not geobase's")
    delivery = write_tif(tmp_path / "ortho.tif", width=60, height=60)
    return workspace, sibling, delivery


@pytest.mark.parametrize(
    "bad_id", ["../../../sibling/x", "../sibling", "a/b", "..", ".staging", "a\\b", "x" * 200]
)
def test_ingest_refuses_ids_that_are_paths(site, bad_id):
    ws, sibling, delivery = site
    before_ws, before_sibling = snapshot(ws.root), snapshot(sibling)
    args = ["ingest", delivery, "--acquired", "2023-01-01", "--crs", "EPSG:4548"]
    result = run_cli([*args, "--dataset-id", bad_id, "--workspace", ws.root])
    assert result.exit_code == 2
    assert "dataset id" in one_line(result.stderr)
    assert snapshot(sibling) == before_sibling
    assert snapshot(ws.root).keys() <= before_ws.keys() | {"workspace.gpkg-shm", "data"}
    listed = run_cli(["catalog", "list", "--format", "json", "--workspace", ws.root])
    assert json.loads(listed.stdout) == []


@pytest.mark.parametrize("bad_id", ["../../../sibling/x", "../sibling/x", "a/../../x", ".."])
def test_catalog_remove_refuses_ids_that_are_paths(site, bad_id):
    ws, sibling, delivery = site
    ingest(ws, [delivery], acquired="2023-01-01", dataset_id="x")
    before = snapshot(sibling)
    result = run_cli(["catalog", "remove", bad_id, "--purge", "--workspace", ws.root])
    assert result.exit_code == 2
    assert "dataset id" in one_line(result.stderr)
    assert snapshot(sibling) == before


def test_purge_never_follows_a_link_out_of_the_workspace(site):
    """A version folder replaced by a symbolic link to elsewhere: the purge is refused,
    nothing is deleted there, and the removal is not recorded."""
    ws, sibling, delivery = site
    (result,) = ingest(ws, [delivery], acquired="2023-01-01", dataset_id="x")
    folder = ws.root / Path(result.path).parent
    for f in folder.iterdir():
        f.unlink()
    folder.rmdir()
    folder.symlink_to(sibling / "x" / "v1", target_is_directory=True)
    before = snapshot(sibling)
    removed = run_cli(["catalog", "remove", "x", "--purge", "--workspace", ws.root])
    assert removed.exit_code == 2
    line = one_line(removed.stderr)
    assert "outside" in line and "data" in line
    assert snapshot(sibling) == before
    shown = run_cli(["catalog", "show", "x", "--history", "--format", "json", "--workspace",
                     ws.root])  # fmt: skip
    assert [row["status"] for row in json.loads(shown.stdout)] != ["removed"]


def test_ingest_never_writes_through_a_link_out_of_the_workspace(site):
    """data/<product> is a symbolic link to a folder outside: the ingest is refused with
    one line, nothing is recorded and nothing is written there."""
    ws, sibling, delivery = site
    (first,) = ingest(ws, [delivery], acquired="2023-01-01", dataset_id="first")
    product_dir = ws.root / "data" / first.product
    moved = sibling / "product"
    product_dir.rename(moved)
    product_dir.symlink_to(moved, target_is_directory=True)
    (moved / "someone" / "v1").mkdir(parents=True)  # unknown to the catalogue: not ours
    (moved / "someone" / "v1" / "theirs.tif").write_bytes(b"their file")
    before = snapshot(sibling)
    other = write_tif(delivery.with_name("other.tif"), width=50, height=50)
    args = ["ingest", other, "--acquired", "2023-01-01", "--dataset-id", "second"]
    result = run_cli([*args, "--product", first.product, "--workspace", ws.root])
    assert result.exit_code == 2
    assert "outside" in one_line(result.stderr)
    assert snapshot(sibling) == before
    listed = run_cli(["catalog", "list", "--format", "json", "--workspace", ws.root])
    assert [r["dataset_id"] for r in json.loads(listed.stdout)] == ["first"]


@pytest.mark.parametrize("bad", ["../../evil", "a/b", ".hidden", "名字"])
def test_token_names_follow_the_pattern(workspace, bad):
    result = run_cli(["token", "create", bad, "--workspace", workspace.root])
    assert result.exit_code == 2
    assert "token name" in one_line(result.stderr)
    listed = run_cli(["token", "list", "--format", "json", "--workspace", workspace.root])
    assert json.loads(listed.stdout) == []


@pytest.mark.parametrize("bad", ["../../evil", "a/b", ".cache", "名字"])
def test_pyramid_names_follow_the_pattern(site, bad):
    ws, sibling, delivery = site
    before_ws, before_sibling = snapshot(ws.root), snapshot(sibling)
    out = ws.root / "tiles" / "p.pmtiles"
    result = run_cli(["tiles", "build", delivery, "-o", out, "--name", bad, "--workspace", ws.root])
    assert result.exit_code == 2
    assert "pyramid name" in one_line(result.stderr)
    assert snapshot(ws.root) == before_ws and snapshot(sibling) == before_sibling


def test_a_linked_staging_folder_is_neither_cleaned_nor_used(site):
    """data/.staging is a symbolic link to someone's folder: the cleanup before an ingest
    leaves that folder alone and the ingest is refused (one line, exit 2)."""
    ws, sibling, delivery = site
    (sibling / "12345678-abandoned").mkdir()  # looks like a killed ingest's folder
    (sibling / "notes.txt").write_text("theirs")
    (ws.root / "data").mkdir(exist_ok=True)
    (ws.root / "data" / ".staging").symlink_to(sibling, target_is_directory=True)
    before = snapshot(sibling)
    args = ["ingest", delivery, "--acquired", "2023-01-01", "--crs", "EPSG:4548"]
    result = run_cli([*args, "--workspace", ws.root])
    assert result.exit_code == 2
    assert "staging folder" in result.stderr.splitlines()[-1]
    assert snapshot(sibling) == before
