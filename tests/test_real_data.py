"""The real sample files are part of the repository, unchanged, and the demo finds them."""

from __future__ import annotations

import hashlib
import shutil

import pytest

import geobase.demo
from geobase.errors import DemoDataMissing
from tests.conftest import REAL_DATA, ROOT, run_cli

SAMPLES = {
    "RGB.byte.tif",
    "shade.tif",
    "corrupt.tif",
    "autzen_trim.laz",
    "simple.las",
    "simple.laz",
}
NOTES = {"README.md", "SHA256SUMS", "LICENSE-rasterio.txt", "LICENSE-laspy.txt"}


def test_samples_are_committed_unchanged_with_their_licences():
    assert REAL_DATA == ROOT / "datasets" / "real"
    # nothing added beside them (a test or the demo writing sidecars into the repository)
    assert {p.name for p in REAL_DATA.iterdir()} == SAMPLES | NOTES
    sums = {}
    for line in (REAL_DATA / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split()
        sums[name] = digest
    assert set(sums) == SAMPLES
    for name, digest in sums.items():
        assert hashlib.sha256((REAL_DATA / name).read_bytes()).hexdigest() == digest, name
    readme = (REAL_DATA / "README.md").read_text()
    assert "BSD-3-Clause" in readme and "BSD-2-Clause" in readme
    assert "MapBox" in (REAL_DATA / "LICENSE-rasterio.txt").read_text()
    assert "Howard Butler" in (REAL_DATA / "LICENSE-laspy.txt").read_text()


def test_demo_finds_the_samples_in_the_clone():
    assert geobase.demo.demo_data_root() == ROOT
    assert geobase.demo.real_data_dir(ROOT) == REAL_DATA


def test_demo_without_its_inputs_refused_nothing_written(tmp_path, monkeypatch):
    # a package installed away from any clone, run outside one
    monkeypatch.setattr(geobase.demo, "REPO_ROOT", tmp_path / "site-packages")
    monkeypatch.chdir(tmp_path)
    result = run_cli(["demo", str(tmp_path / "shantou")])
    assert result.exit_code == 2, result.output
    assert "demo's inputs" in result.stderr and "geobase clone" in result.stderr
    assert not (tmp_path / "shantou").exists()


def test_demo_run_from_a_clone_when_installed_elsewhere(tmp_path, monkeypatch):
    clone = tmp_path / "clone"
    (clone / "datasets").mkdir(parents=True)
    shutil.copyfile(ROOT / "datasets" / "generate.py", clone / "datasets" / "generate.py")
    monkeypatch.setattr(geobase.demo, "REPO_ROOT", tmp_path / "site-packages")
    monkeypatch.chdir(clone)
    assert geobase.demo.demo_data_root() == clone


def test_demo_clone_without_samples_refused_nothing_written(tmp_path):
    clone = tmp_path / "clone"
    (clone / "datasets").mkdir(parents=True)
    shutil.copyfile(ROOT / "datasets" / "generate.py", clone / "datasets" / "generate.py")
    with pytest.raises(DemoDataMissing, match="incomplete"):
        geobase.demo.build_demo(tmp_path / "shantou", data=clone)
    assert not (tmp_path / "shantou").exists()
