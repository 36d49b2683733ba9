"""Regenerate the SYNTHETIC demo control-point registry in this folder.

Usage: python control_points/generate.py [OUT_DIR]   (deterministic: the generator is seeded)
"""

from __future__ import annotations

import sys
from pathlib import Path

from geobase.control.demo_data import generate

if __name__ == "__main__":
    here = Path(__file__).resolve().parent
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else here
    counts = generate(out, here.parent / "datasets" / "districts" / "shantou_districts.geojson")
    for key, value in counts.items():
        print(f"{key}: {value}")
