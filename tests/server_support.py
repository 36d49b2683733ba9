"""Helpers for the server tests: a real uvicorn server on a free loopback port, raw requests."""

from __future__ import annotations

import socket
import threading
import time
import warnings
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def running(app, *, access_log: bool = False):
    """Serve ``app`` with uvicorn on 127.0.0.1 and a free port; yields the base URL."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app, log_level="warning", ws="none", lifespan="on", access_log=access_log
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def raw_get(base: str, target: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    """Send ``GET target`` exactly as written (no client-side normalisation); (status, body)."""
    host, port = base.removeprefix("http://").split(":")
    lines = [f"GET {target} HTTP/1.1", f"Host: {host}:{port}", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        chunks = []
        while True:
            data = conn.recv(65536)
            if not data:
                break
            chunks.append(data)
    raw = b"".join(chunks)
    head, _, body = raw.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, body


# --- a workspace with pyramids on both grids, catalogue records and tokens --------------

BOUNDS = (116.60, 23.30, 116.70, 23.40)  # the sample raster, EPSG:4490
PYRAMIDS = {
    # name: (store path, tms, zooms, format, classification)
    "merc": ("tiles/merc", "WebMercatorQuad", (10, 12), "png", "public"),
    "cgcs": ("tiles/cgcs.pmtiles", "CGCS2000Quad", (10, 12), "png", "public"),
    "secret": ("tiles/secret.mbtiles", "WebMercatorQuad", (10, 11), "jpeg", "restricted"),
    "inner": ("tiles/inner", "CGCS2000Quad", (10, 11), "png", "internal"),
}


def sample_raster(path: Path, bounds: tuple[float, float, float, float] = BOUNDS) -> Path:
    """A 256 x 256 RGB GeoTIFF over ``bounds`` (EPSG:4490; default Shantou) with a
    gradient pattern."""
    import numpy as np
    import rasterio
    from affine import Affine

    h = w = 256
    yy, xx = np.mgrid[0:h, 0:w]
    data = np.stack([xx, yy, (xx + yy) // 2]).astype("uint8")
    profile = {
        "driver": "GTiff",
        "width": w,
        "height": h,
        "count": 3,
        "dtype": "uint8",
        "crs": "EPSG:4490",
        # (rasterio's from_bounds warns with affine >= 3.1)
        "transform": Affine(
            (bounds[2] - bounds[0]) / w, 0, bounds[0], 0, -(bounds[3] - bounds[1]) / h, bounds[3]
        ),
    }
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
    return path


def add_dataset(
    ws, dataset_id: str, product: str, classification: str, box, acquired: str, **fields
):
    import shapely

    from geobase.store import utc_now

    with ws.store.transaction() as tx:
        tx.insert(
            "datasets",
            {
                "dataset_id": dataset_id,
                "version": 1,
                "product": product,
                "kind": "imagery",
                "title": f"{dataset_id} 影像",
                "acquired_start": acquired,
                "acquired_end": acquired,
                "ingested_at": utc_now(),
                "classification": classification,
                "owner": "汕头市自然资源局",
                "path": f"data/{dataset_id}.tif",
                "checksum": "0" * 64,
                "geom": tx.geom(shapely.MultiPolygon([shapely.box(*box)]), 4490),
                **fields,
            },
        )
        tx.touch("datasets")


def make_workspace(root: Path) -> dict:
    """A workspace with the :data:`PYRAMIDS`, three datasets and two tokens.

    Returns a dict with ``ws_root``, ``tokens`` (``internal``, ``restricted``, ``revoked``).
    """
    from geobase.catalog.access import create_token, revoke_token
    from geobase.store import Workspace
    from geobase.tiles.build import build_tiles

    ws = Workspace.init(root, name="served")
    try:
        sample_raster(ws.root / "src.tif")
        for name, (out, tms, zooms, fmt, classification) in PYRAMIDS.items():
            with warnings.catch_warnings():
                # geobase.tiles.render multiplies Affine with `*` (affine >= 3.1 warns);
                # in-process builds (workers=1) would turn that into an error here
                warnings.filterwarnings("ignore", "Use `@` matmul", PendingDeprecationWarning)
                build_tiles(ws, "src.tif", ws.root / out, tms=tms, zoom=zooms, fmt=fmt, workers=1)
            # the classification review's outcome (file sources are recorded as internal)
            with ws.store.transaction() as tx:
                tx.execute(
                    "UPDATE pyramids SET classification = :c WHERE name = :n",
                    {"c": classification, "n": name},
                )
        add_dataset(
            ws,
            "dom02-2023-jinping",
            "dom02",
            "public",
            (116.6, 23.3, 116.7, 23.4),
            "2023-11-02",
            # the other datasets state none: pandas makes these columns floats
            epsg=4548,
            bands=4,
            resolution=0.2,
        )
        add_dataset(
            ws, "dom02-2021-longhu", "dom02", "public", (116.7, 23.3, 116.8, 23.4), "2021-04-10"
        )
        add_dataset(
            ws,
            "dom005-2024-secret",
            "dom005",
            "restricted",
            (116.65, 23.35, 116.66, 23.36),
            "2024-06-01",
        )
        tokens = {}
        _, tokens["internal"] = create_token(ws.store, "planning-dept", "internal")
        _, tokens["restricted"] = create_token(ws.store, "survey-office", "restricted")
        _, tokens["revoked"] = create_token(ws.store, "old-dept", "restricted")
        revoke_token(ws.store, "old-dept")
    finally:
        ws.close()
    return {"ws_root": root, "tokens": tokens}
