"""Write one benchmark's section of bench/RESULTS.md, leaving the other sections alone.

Each benchmark owns the text between ``<!-- bench:NAME:start -->`` and
``<!-- bench:NAME:end -->`` under its own ``## TITLE`` heading; a section that is not there
yet is appended.
"""

from __future__ import annotations

import re
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"

HEADER = """# Benchmark results

One section per benchmark, each written by its script with `--write` (see README.md).
Ratios compare geobase with its anchor measured side by side in the same run; the command
that produced each section is recorded in it.
"""


def update_section(name: str, title: str, body: str, path: Path = RESULTS) -> Path:
    """Replace (or append) the section ``name`` of the results file with ``body``."""
    text = path.read_text(encoding="utf-8") if path.exists() else HEADER
    start, end = f"<!-- bench:{name}:start -->", f"<!-- bench:{name}:end -->"
    block = f"{start}\n{body.strip()}\n{end}"
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _: block, text)
    else:
        text = text.rstrip("\n") + f"\n\n## {title}\n\n{block}\n"
    path.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
    return path
