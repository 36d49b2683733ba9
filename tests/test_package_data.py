"""Files the code reads at run time (templates, scripts, styles) are package data: a wheel
install has them. Checked against pyproject.toml with setuptools' glob rules."""

from __future__ import annotations

import re
import subprocess
import tomllib

import pytest

from tests.conftest import ROOT


def _matches(relative: str, pattern: str) -> bool:
    """setuptools package-data glob: ``*`` stays within one folder."""
    regex = "".join("[^/]*" if c == "*" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, relative) is not None


def packaged(path: str, package_data: dict[str, list[str]]) -> bool:
    """Whether ``path`` (relative to the repository) is package data of some package.

    Every folder under ``geobase`` is a package (``packages.find`` finds namespace
    packages too); patterns of ``"*"`` apply to each, named ones to theirs only.
    """
    parts = path.split("/")
    for i in range(1, len(parts)):
        package = ".".join(parts[:i])
        relative = "/".join(parts[i:])
        patterns = package_data.get("*", []) + package_data.get(package, [])
        if any(_matches(relative, p) for p in patterns):
            return True
    return False


@pytest.mark.parametrize(
    "folder",
    ["geobase/emergency", "geobase/coverage", "geobase/webassets", "geobase/qc", "geobase/change"],
)
def test_assets_read_at_run_time_are_package_data(folder):
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    package_data = config["tool"]["setuptools"]["package-data"]
    files = subprocess.run(
        ["git", "ls-files", folder], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    assets = [f for f in files if not f.endswith(".py")]
    assert assets  # the viewer's and the report's templates
    assert [f for f in assets if not packaged(f, package_data)] == []
    assert not packaged("geobase/coverage/notes.md", package_data)  # the rule bites
