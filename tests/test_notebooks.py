"""The analyst notebooks run top to bottom on the demo workspace; each shows its charts
inline and a map that renders with the network off."""

from __future__ import annotations

import html
import re
import shutil
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from tests.browser_support import open_offline

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
# a script or stylesheet loaded from elsewhere: what leaves a map blank offline
REMOTE = re.compile(
    r"<script\b[^>]*\bsrc=[\"']?(?:https?:)?//|<link\b[^>]*\bhref=[\"']?(?:https?:)?//",
    re.IGNORECASE,
)


def test_there_are_notebooks():
    assert len(NOTEBOOKS) >= 4


def _outputs(nb, cell) -> list[dict]:
    return cell.get("outputs", []) if cell.cell_type == "code" else []


def _texts(output) -> list[str]:
    """Every text an output carries (HTML, plain text, streams), unescaped once so that
    a page inside an iframe's srcdoc is searched too."""
    texts = [str(v) for v in output.get("data", {}).values() if isinstance(v, str)]
    texts.append(str(output.get("text", "")))
    return [*texts, *(html.unescape(t) for t in texts)]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_shows_charts_and_an_offline_map(path, demo_workspace, monkeypatch, tmp_path):
    monkeypatch.setenv("GEOBASE_WORKSPACE", str(demo_workspace))
    monkeypatch.delenv("MPLBACKEND", raising=False)  # the kernel's inline backend shows charts
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()  # raises CellExecutionError on the first failing cell
    code = [c for c in nb.cells if c.cell_type == "code"]
    # every cell that draws a chart shows it inline as a PNG
    charting = [c for c in code if re.search(r"\.plot\b|plt\.|Image\.open", c.source)]
    assert charting, "the notebook draws no chart"
    for cell in charting:
        kinds = {k for out in _outputs(nb, cell) for k in out.get("data", {})}
        assert "image/png" in kinds, f"no chart shown by:\n{cell.source}"
    texts = [t for cell in code for out in _outputs(nb, cell) for t in _texts(out)]
    maps = [t for t in texts if "L.map(" in t.replace("\\", "")]
    assert maps, "no folium map shown"
    assert all("leaflet" in t.lower() for t in maps)
    remote = [m.group(0) for t in texts for m in REMOTE.finditer(t)]
    assert remote == [], f"outputs load remote scripts or styles: {remote[:3]}"
    if shutil.which("chromium") is None:
        return  # the browser check needs Debian's chromium (CI installs it)
    pages = [
        html.unescape(m.group(1))
        for cell in code
        for out in _outputs(nb, cell)
        for m in re.finditer(r'srcdoc="([^"]*)"', str(out.get("data", {}).get("text/html", "")))
    ]
    assert pages, "no map page in the outputs"
    for i, page in enumerate(pages):
        (tmp_path / f"map{i}.html").write_text(page, encoding="utf-8")
        shown = open_offline(tmp_path / f"map{i}.html")
        assert shown["leaving"] == [] and shown["problems"] == [], shown
        assert shown["maps"] == 1 and shown["shapes"] > 0, shown
