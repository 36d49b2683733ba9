"""One change-detection run: epochs in, change polygons out.

Per kind of evidence both epochs hold (imagery, elevation): the common grid; statistics
on a lattice of sample blocks (co-registration, normalisation or vertical offset); the
windows over the grid, on a process pool like tile builds; the pieces merged across
window edges (:mod:`geobase.change.merge`), holes and polygons under ``min_area``
dropped. With both kinds, an elevation polygon that meets imagery change says
``elevation+imagery`` and absorbs it.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import geopandas as gpd
import numpy as np
import rasterio
import shapely

from geobase.change.elevation import fit_heights
from geobase.change.epochs import KINDS, Epoch, Source
from geobase.change.grid import Grid, close_all, common_grid, lattice, read_epoch
from geobase.change.merge import epoch_provenance, fuse, merge_pieces
from geobase.change.radiometry import fit_normalisation, threshold
from geobase.change.register import Shift, estimate_shift
from geobase.change.windows import Modality, Piece, WindowResult, run_window, windows
from geobase.errors import (
    ChangeInputError,
    EmptyEpochError,
    NoOverlapError,
    RegistrationError,
)

logger = logging.getLogger(__name__)

Progress = Callable[..., None]
SAMPLE_BLOCK = 512
SAMPLE_PIXELS = 40_000
REGISTER_BLOCK = 256


@dataclass
class ChangeResult:
    """What :func:`detect_changes` found."""

    changes: gpd.GeoDataFrame  # results.COLUMNS + geometry, in the grid CRS
    summary: dict[str, Any]
    modalities: dict[str, Modality] = field(default_factory=dict)
    before: Epoch | None = None
    after: Epoch | None = None


def _sample(modality: Modality, blocks: list[tuple[int, int, int, int]]):
    """Both epochs' sample blocks, read with the modality's shifts."""
    out = []
    for row, col, h, w in blocks:
        b, vb = read_epoch(modality.before, modality.grid, row, col, h, w, modality.shift_before)
        a, va = read_epoch(modality.after, modality.grid, row, col, h, w, modality.shift_after)
        out.append((b, vb, a, va))
    return out


def _coarse_valid(sources: list[Source], grid: Grid) -> int:
    """Valid pixels of an epoch on a coarse copy of the grid (at most 256 a side)."""
    factor = max(grid.width, grid.height) / 256
    coarse = replace(
        grid,
        res=grid.res * max(factor, 1.0),
        width=max(1, int(grid.width / max(factor, 1.0))),
        height=max(1, int(grid.height / max(factor, 1.0))),
    )
    # a coarse grid never lines up with the sources: read through a warp
    _, valid = read_epoch(sources, coarse, 0, 0, coarse.height, coarse.width, (1e-9, 0.0))
    return int(valid.sum())


def _check_sample(kind: str, modality: Modality, sample) -> None:
    both = sum(int((vb & va).sum()) for _, vb, _, va in sample)
    if both >= 1000:
        return
    for label, sources in (("before", modality.before), ("after", modality.after)):
        if _coarse_valid(sources, modality.grid) == 0:
            raise EmptyEpochError(
                f"the {label} epoch's {kind} is all nodata over the common area "
                f"({', '.join(s.path.name for s in sources)}); check its nodata value and "
                "that it is the right file"
            )
    if both == 0:
        raise NoOverlapError(
            f"the epochs' valid {kind} pixels do not overlap (their extents do, their data "
            "not); check that both show the same place"
        )


def _registration(modality: Modality, sample, iterations: int = 3) -> Shift | None:
    pairs = []
    for b, vb, a, va in sample:
        ok = vb & va
        if ok.mean() < 0.9:
            continue
        # the central 256 px of the block: enough structure, a quarter of the FFT work
        h, w = ok.shape
        r, c = max((h - REGISTER_BLOCK) // 2, 0), max((w - REGISTER_BLOCK) // 2, 0)
        part = (slice(r, r + REGISTER_BLOCK), slice(c, c + REGISTER_BLOCK))
        ok = ok[part]
        pb, pa = b[(slice(None), *part)].mean(axis=0), a[(slice(None), *part)].mean(axis=0)
        pb[~ok], pa[~ok] = pb[ok].mean(), pa[ok].mean()
        pairs.append((pb, pa))
    return estimate_shift(pairs, modality.grid.res, iterations=iterations)


def _pixels(sample, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = [], []
    for b, vb, a, va in sample:
        ok = vb & va
        xs.append(b[:, ok].T)
        ys.append(a[:, ok].T)
    x, y = np.concatenate(xs).astype(np.float64), np.concatenate(ys).astype(np.float64)
    if len(x) > SAMPLE_PIXELS:
        pick = rng.choice(len(x), SAMPLE_PIXELS, replace=False)
        x, y = x[pick], y[pick]
    return x, y


def _imagery(
    before: list[Source], after: list[Source], *, p_value: float, max_shift: float
) -> tuple[Modality, dict[str, Any]]:
    bands = min(len(before[0].bands), len(after[0].bands))
    before = [replace(s, bands=s.bands[:bands]) for s in before]
    after = [replace(s, bands=s.bands[:bands]) for s in after]
    grid = common_grid(before, after)
    modality = Modality("imagery", grid, before, after)
    blocks = lattice(grid, SAMPLE_BLOCK, 3)
    sample = _sample(modality, blocks)
    _check_sample("imagery", modality, sample)
    shift = _registration(modality, sample)
    info: dict[str, Any] = {"grid_res_m": grid.res, "bands": bands, "p_value": p_value}
    if shift is None:
        info["registration"] = {"checked": False, "why": "no sample block valid in both"}
        logger.warning("co-registration not checked: no block of the sample is valid in both")
    else:
        info["registration"] = {
            "checked": True,
            "shift_px": [round(shift.dx, 3), round(shift.dy, 3)],
            "shift_m": round(shift.metres, 3),
            "blocks": shift.blocks,
            "spread_px": round(shift.spread, 3),
            "max_shift_px": max_shift,
        }
        if shift.px > max_shift:
            raise RegistrationError(
                f"the after epoch is shifted by {shift.px:.2f} px ({shift.metres:.2f} m; "
                f"dx {shift.dx:+.2f}, dy {shift.dy:+.2f}) against the before epoch, more "
                f"than --max-shift {max_shift:g} px; co-register the epochs (orthorectify "
                "on common control) before comparing them"
            )
        # AFTER is resampled onto BEFORE's pixels: BEFORE is read as it is
        modality = replace(modality, shift_after=(shift.dx, shift.dy))
        sample = _sample(modality, blocks)
        residual = _registration(modality, sample, iterations=0)
        if residual is not None:
            info["registration"]["residual_px"] = round(residual.px, 3)
            info["registration"]["residual_m"] = round(residual.metres, 3)
    x, y = _pixels(sample, np.random.default_rng(0))
    try:
        norm = fit_normalisation(x, y)
    except ValueError as err:
        raise ChangeInputError(f"imagery cannot be normalised: {err}") from err
    thr = threshold(p_value, bands)
    info["normalisation"] = {
        "method": "IR-MAD no-change weights + cubic per band (Canty & Nielsen 2008)",
        "canonical_correlations": [round(float(r), 4) for r in norm.rho],
        "invariant_share": round(norm.invariant_share, 4),
        "sample_pixels": len(x),
    }
    info["chi2_threshold"] = round(thr, 3)
    return replace(modality, normalisation=norm, threshold=thr), info


def _elevation(
    before: list[Source], after: list[Source], *, p_value: float, given: float | None
) -> tuple[Modality, dict[str, Any]]:
    grid = common_grid(before, after)
    modality = Modality("elevation", grid, before, after)
    sample = _sample(modality, lattice(grid, SAMPLE_BLOCK, 4))
    _check_sample("elevation", modality, sample)
    diffs = np.concatenate([(a[0].astype(np.float64) - b[0])[vb & va] for b, vb, a, va in sample])
    model = fit_heights(diffs.astype(np.float64), p_value=p_value, given=given)
    info = {
        "grid_res_m": grid.res,
        "p_value": p_value,
        "vertical_offset_m": round(model.offset, 4),
        "sigma_m": round(model.sigma, 4),
        "threshold_m": round(model.threshold, 4),
        "threshold_from": "data (robust sigma)" if model.from_data else "--height-threshold",
        "registration": {"checked": False, "why": "horizontal shift is checked on imagery only"},
    }
    return replace(modality, heights=model, threshold=model.threshold), info


# --- running the windows -----------------------------------------------------------------

_MODALITY: Modality | None = None


def _init_worker(modality: Modality) -> None:
    global _MODALITY
    _MODALITY = modality


def _job(window: tuple[int, int, int, int]) -> WindowResult:
    assert _MODALITY is not None
    with rasterio.Env():
        return run_window(_MODALITY, window)


def run_windows(modality: Modality, size: int, workers: int | None) -> Iterator[WindowResult]:
    """Every window's result, in the order they finish (a process pool above 1 worker)."""
    jobs = windows(modality.grid, size)
    workers = workers if workers is not None else (os.cpu_count() or 1)
    if workers <= 1 or len(jobs) <= 1:
        with rasterio.Env():  # one GDAL environment, not one per call
            for job in jobs:
                yield run_window(modality, job)
        return
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed

    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(["geobase.change.windows"])
    with ProcessPoolExecutor(
        max_workers=min(workers, len(jobs)),
        mp_context=ctx,
        initializer=_init_worker,
        initargs=(modality,),
    ) as pool:
        futures = [pool.submit(_job, job) for job in jobs]
        try:
            for future in as_completed(futures):
                yield future.result()
        except BaseException:
            for future in futures:
                future.cancel()
            raise


def detect_changes(
    before: Epoch,
    after: Epoch,
    *,
    p_value: float = 1e-3,
    min_area: float = 10.0,
    max_shift: float = 2.0,
    height_threshold: float | None = None,
    window: int = 1024,
    workers: int | None = 1,
    progress: Progress | None = None,
) -> ChangeResult:
    """Change polygons between two epochs.

    Args:
        before, after: the epochs (:func:`geobase.change.epochs.resolve_epoch`).
        p_value: per-pixel false-alarm probability the thresholds are set at.
        min_area: drop change polygons (and holes) smaller than this (m²).
        max_shift: refuse imagery shifted by more (grid pixels); smaller shifts are
            corrected.
        height_threshold: metres; default from the elevation data's precision.
        window: window side in pixels (memory grows with its square).
        workers: processes (1: in this process; None: CPU count).
        progress: called as ``progress(done, total)`` per window.

    Raises:
        ChangeInputError (and its subclasses): the epochs cannot be compared.
    """
    if not 0 < p_value < 0.5:
        raise ChangeInputError(f"p-value {p_value} must lie between 0 and 0.5")
    if window < 64:
        raise ChangeInputError(f"window {window} px is too small (at least 64)")
    kinds = [k for k in KINDS if before.of(k) and after.of(k)]
    if not kinds:
        raise ChangeInputError(
            f"nothing to compare: before holds {', '.join(before.sources) or 'nothing'}, "
            f"after holds {', '.join(after.sources) or 'nothing'}"
        )
    modalities: dict[str, Modality] = {}
    summary: dict[str, Any] = {"before": before.spec, "after": after.spec, "evidence": {}}
    try:
        for kind in kinds:
            if kind == "imagery":
                mod, info = _imagery(
                    before.of(kind), after.of(kind), p_value=p_value, max_shift=max_shift
                )
            else:
                mod, info = _elevation(
                    before.of(kind), after.of(kind), p_value=p_value, given=height_threshold
                )
            modalities[kind] = mod
            summary["evidence"][kind] = info
        found: dict[str, gpd.GeoDataFrame] = {}
        total = sum(len(windows(m.grid, window)) for m in modalities.values())
        done = 0
        for name, mod in modalities.items():
            mod = replace(mod, min_pixels=int(min_area / mod.grid.res**2))
            pieces: list[Piece] = []
            counts = np.zeros(4, dtype=np.int64)
            for result in run_windows(mod, window, workers):
                pieces += result.pieces
                counts += (
                    result.valid_before,
                    result.valid_after,
                    result.valid_both,
                    result.changed_raw,
                )
                done += 1
                if progress is not None:
                    progress(done, total)
            for label, n in (("before", counts[0]), ("after", counts[1])):
                if n == 0:
                    raise EmptyEpochError(f"the {label} epoch's {name} is all nodata")
            if counts[2] == 0:
                raise NoOverlapError(f"the epochs' valid {name} pixels do not overlap")
            info = summary["evidence"][name]
            info["valid_pixels"] = int(counts[2])
            info["valid_km2"] = round(counts[2] * mod.grid.res**2 / 1e6, 6)
            info["changed_pixels_raw"] = int(counts[3])
            info["changed_share_raw"] = round(counts[3] / counts[2], 6)
            found[name] = merge_pieces(pieces, min_area)
    finally:
        close_all()
    first = modalities[kinds[0]]
    crs = first.grid.crs
    fused = fuse(found)
    polys = np.asarray(fused["geometry"].values, dtype=object) if len(fused) else np.array([])
    evidence = fused["evidence"].to_numpy() if len(fused) else np.array([])
    b_ids, b_dates = epoch_provenance(polys, evidence, before, kinds, crs)
    a_ids, a_dates = epoch_provenance(polys, evidence, after, kinds, crs)
    frame = gpd.GeoDataFrame(
        {
            "kind": fused["kind"].to_numpy(),
            "direction": fused["direction"].to_numpy(),
            "evidence": fused["evidence"].to_numpy(),
            "area_m2": shapely.area(polys) if len(polys) else [],
            "score": fused["score"].astype(float).to_numpy(),
            "height_m": fused["height_m"].astype(float).to_numpy(),
            "before_date": b_dates,
            "after_date": a_dates,
            "before_ids": b_ids,
            "after_ids": a_ids,
        },
        geometry=list(polys),
        crs=crs,
    )
    frame = frame.sort_values(["area_m2", "score"], ascending=False, ignore_index=True)
    frame.insert(0, "change_id", [f"C{i + 1:05d}" for i in range(len(frame))])
    summary["changes"] = len(frame)
    summary["changed_m2"] = round(float(frame["area_m2"].sum()), 2)
    summary["by_kind"] = {k: int(v) for k, v in frame["kind"].value_counts().items()}
    summary["before_date"] = _iso(before.date())
    summary["after_date"] = _iso(after.date())
    summary["min_area_m2"] = min_area
    summary["crs"] = crs.to_string()
    return ChangeResult(frame, summary, modalities, before, after)


def _iso(day: dt.date | None) -> str | None:
    return day.isoformat() if day else None
