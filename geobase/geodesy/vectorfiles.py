"""Transforming vector files: streamed record by record through fiona.

One reused ``always_xy`` transformer per layer, batches of :data:`BATCH_SIZE` features,
into a temporary file beside the destination that is renamed at the end, so a failure
leaves nothing behind (:func:`transform_vector_file`, :func:`apply_vector_file`).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
from numpy.typing import NDArray
from pyproj import CRS

from geobase.areas import check_geometries
from geobase.errors import (
    EmptyInputError,
    GeobaseError,
    OutputExistsError,
    SourceReadError,
    ValidationError,
)
from geobase.geodesy.tables import BATCH_SIZE, VECTOR_DRIVERS, Notify, io_kind
from geobase.geodesy.transform import CRSLike, check_coordinates, get_transformer
from geobase.geodesy.zones import crs_label, resolve_crs
from geobase.paths import atomic_output

if TYPE_CHECKING:
    from geobase.geodesy.fit import TransformParameters


# --- vector files ----------------------------------------------------------------------


class _FeatureLabels(Sequence[str]):
    """``feature N`` for each coordinate of a batch, built only when a message needs one."""

    def __init__(self, index: NDArray[np.intp], first: int) -> None:
        self._index, self._first = index, first

    def __len__(self) -> int:
        return len(self._index)

    def __getitem__(self, i):
        return f"feature {self._first + int(self._index[i]) + 1}"


def _first_line(exc: BaseException) -> str:
    text = str(exc).split(". Failed to write record")[0]
    return text.splitlines()[0] if text else type(exc).__name__


def _file_crs(collection: Any) -> CRS | None:
    wkt = collection.crs_wkt
    return resolve_crs(CRS.from_wkt(wkt)) if wkt else None


class _Layer(NamedTuple):
    name: str
    features: int
    crs: CRS | None


def _open_layers(path: Path, layer: str | None, driver: str) -> list[_Layer]:
    import fiona

    if not path.exists():
        raise SourceReadError(f"{path}: no such file")
    try:
        names = fiona.listlayers(path)
        layers = []
        for name in [layer] if layer is not None else names:
            if name not in names:
                raise ValidationError(f"{path}: no layer {name!r}; layers: {', '.join(names)}")
            with fiona.open(path, layer=name) as collection:
                layers.append(_Layer(name, len(collection), _file_crs(collection)))
    except GeobaseError:
        raise
    except Exception as exc:  # fiona's DriverError and GDAL's errors
        raise SourceReadError(
            f"{path}: cannot be read as a vector file ({_first_line(exc)})"
        ) from exc
    if len(layers) > 1 and driver != "GPKG":
        raise ValidationError(
            f"{path} holds {len(layers)} layers ({', '.join(names)}) and a {driver} file holds "
            "one; write to a .gpkg file or name the layer"
        )
    if not any(item.features for item in layers):
        raise EmptyInputError(f"{path}: no features")
    return layers


def _batches(collection: Any, size: int) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for feature in collection:
        batch.append(feature)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


# (geometries, a label per coordinate, layer name) -> geometries
Convert = Callable[[NDArray[np.object_], Sequence[str], str], NDArray[np.object_]]


def _stream(
    src_path: Path,
    dst_path: Path,
    layers: list[_Layer],
    dst_crs: CRS | None,
    convert: Convert,
    *,
    overwrite: bool,
    batch_size: int,
) -> int:
    """Copy layers feature by feature with converted geometries; returns the count."""
    import fiona
    import shapely
    from shapely.geometry import mapping, shape

    if dst_path.exists() and not overwrite:
        raise OutputExistsError(f"{dst_path} exists; pass --overwrite to replace it")
    driver = VECTOR_DRIVERS[dst_path.suffix.lower()]
    crs_wkt = dst_crs.to_wkt() if dst_crs is not None else None
    count = 0
    with atomic_output(dst_path) as tmp:  # a shapefile's parts move together
        for item in layers:
            with fiona.open(src_path, layer=item.name) as src:
                options: dict[str, Any] = {"driver": driver, "schema": src.schema}
                if crs_wkt is not None:
                    options["crs_wkt"] = crs_wkt
                if driver == "ESRI Shapefile":
                    options["encoding"] = "utf-8"
                else:
                    options["layer"] = item.name if len(layers) > 1 else dst_path.stem
                try:
                    dst = fiona.open(tmp, "w", **options)
                except Exception as exc:
                    raise _write_error(dst_path, driver, exc) from exc
                with dst:
                    for batch in _batches(src, batch_size):
                        with warnings.catch_warnings():
                            # NaN coordinates warn while built; check_geometries refuses them
                            warnings.filterwarnings("ignore", "invalid value", RuntimeWarning)
                            geoms = np.array(
                                [None if f.geometry is None else shape(f.geometry) for f in batch],
                                dtype=object,
                            )
                        check_geometries(
                            geoms,
                            f"{src_path} layer {item.name!r}",
                            start=count,
                            allow_missing=True,
                            allow_invalid=True,
                        )
                        index = shapely.get_coordinates(geoms, return_index=True)[1]
                        out = convert(geoms, _FeatureLabels(index, count), item.name)
                        features = [
                            fiona.Feature(
                                geometry=None
                                if g is None
                                else fiona.Geometry.from_dict(mapping(g)),
                                id=f.id,
                                properties=f.properties,
                            )
                            for f, g in zip(batch, out, strict=True)
                        ]
                        try:
                            dst.writerecords(features)
                        except Exception as exc:
                            raise _write_error(dst_path, driver, exc) from exc
                        count += len(batch)
    return count


def _write_error(path: Path, driver: str, exc: BaseException) -> ValidationError:
    return ValidationError(f"{path}: cannot be written as {driver} ({_first_line(exc)})")


def transform_vector_file(
    src_path: str | Path,
    dst_path: str | Path,
    dst_crs: CRSLike,
    *,
    src_crs: CRSLike | None = None,
    layer: str | None = None,
    check: bool = True,
    allow_ballpark: bool = False,
    overwrite: bool = False,
    batch_size: int = BATCH_SIZE,
    notify: Notify | None = None,
) -> int:
    """Reproject a GeoJSON, GeoPackage or shapefile, streaming it record by record.

    The destination gets the source's schema and attributes and the target CRS; Z values
    are kept. It is written beside the destination under a temporary name and renamed
    when complete (every part of a shapefile), so a failure leaves nothing.

    Args:
        src_path: The input file.
        dst_path: The output file; its suffix chooses the format.
        dst_crs: Target CRS.
        src_crs: CRS of the input, overriding the one the file declares (``notify`` is
            told when they differ); required when the file declares none.
        layer: The layer to transform; default: every layer (a GeoPackage output holds
            them all, other formats need a single-layer input).
        check: Check coordinates for swapped axes, zone prefixes and out-of-range values.
        allow_ballpark: See :func:`geobase.geodesy.get_transformer`.
        overwrite: Replace an existing output.
        batch_size: Records transformed and written at a time.
        notify: Called with one-line notes for the user.

    Returns:
        The number of features written.

    Raises:
        SourceReadError: the input is missing or not a readable vector file.
        EmptyInputError: the input holds no features.
        ValidationError: no CRS, several layers to a single-layer format, an unsupported
            suffix, or an output the driver cannot hold (e.g. mixed geometry types in a
            shapefile).
        OutputExistsError: the output exists and ``overwrite`` is False.
        InvalidCoordinates, UnknownCRS, BallparkTransformation: see
            :func:`geobase.geodesy.transform`.

    Example:
        >>> transform_vector_file("marks.gpkg", "marks_gk.shp", "EPSG:4548")  # doctest: +SKIP
        12
    """
    src_path, dst_path = Path(src_path), Path(dst_path)
    if io_kind(src_path, dst_path) != "vector":
        raise ValidationError(f"{src_path}: not a vector file; expected .geojson, .gpkg or .shp")
    target = resolve_crs(dst_crs)
    driver = VECTOR_DRIVERS[dst_path.suffix.lower()]
    layers = _open_layers(src_path, layer, driver)
    given = resolve_crs(src_crs) if src_crs is not None else None
    sources = {}
    for item in layers:
        if given is not None:
            if item.crs is not None and not item.crs.equals(given) and notify is not None:
                notify(
                    f"{src_path} declares {crs_label(item.crs)}; using --from {src_crs} as "
                    "requested"
                )
            sources[item.name] = given
        elif item.crs is None:
            raise ValidationError(f"{src_path}: the file has no CRS; pass --from")
        else:
            sources[item.name] = item.crs

    def convert(
        geoms: NDArray[np.object_], labels: Sequence[str], layer_name: str
    ) -> NDArray[np.object_]:
        import shapely

        source = sources[layer_name]
        if check:
            coords = shapely.get_coordinates(geoms)
            if len(coords):
                check_coordinates(coords[:, 0], coords[:, 1], source, labels=labels)
        transformer = get_transformer(source, target, allow_ballpark=allow_ballpark)

        def fn(x, y, z=None):
            return transformer.transform(x, y) if z is None else transformer.transform(x, y, z)

        # the stubs know neither include_z=None (keep Z where present) nor the
        # three-argument function of interleaved=False
        return shapely.transform(  # type: ignore[call-overload]
            geoms, fn, include_z=None, interleaved=False
        )

    for item in layers:  # fail on a ballpark or unknown transformation before writing
        get_transformer(sources[item.name], target, allow_ballpark=allow_ballpark)
    return _stream(
        src_path, dst_path, layers, target, convert, overwrite=overwrite, batch_size=batch_size
    )


def apply_vector_file(
    params: TransformParameters,
    src_path: str | Path,
    dst_path: str | Path,
    *,
    layer: str | None = None,
    check: bool = True,
    overwrite: bool = False,
    batch_size: int = BATCH_SIZE,
    notify: Notify | None = None,
) -> int:
    """Apply fitted parameters to a vector file, streaming it record by record.

    Plane models (4p, affine, poly2) pass Z values through; 7p transforms them as
    ellipsoidal heights. The output gets the parameters' target CRS (none for ``local``)
    and is written like :func:`transform_vector_file` does. Parameters that do not name
    both CRSs are refused (ParameterFileError). Every vertex goes through the checks of
    :func:`geobase.geodesy.apply` (as a CSV's points do), batch by batch: the source CRS's
    guard, the target zone, and one note for the vertices outside the common points' hull.

    Args:
        params: Parameters from :func:`geobase.geodesy.fit` or ``read_parameters``.
        src_path: The input file.
        dst_path: The output file; its suffix chooses the format.
        layer: The layer to transform (default: every layer; see
            :func:`transform_vector_file`).
        check: Check coordinates against the parameters' source CRS and the results
            against a Gauss-Kruger target's zone, where they name them.
        overwrite: Replace an existing output.
        batch_size: Records transformed and written at a time.
        notify: Told (one line, once the file is written) about vertices outside the
            common points' hull (see :func:`geobase.geodesy.apply`).

    Returns:
        The number of features written.

    Raises:
        ValidationError: the file declares another CRS than the parameters' source, or
            see :func:`transform_vector_file`.
        OutsideZoneError: a vertex lands outside a Gauss-Kruger target's zone.
        SourceReadError, EmptyInputError, OutputExistsError, InvalidCoordinates: see
            :func:`transform_vector_file`.
    """
    import shapely

    from geobase.geodesy.fit import HullCheck, apply, check_apply_input, check_apply_output
    from geobase.geodesy.paramfiles import declared_crs, with_crs

    src_path, dst_path = Path(src_path), Path(dst_path)
    if io_kind(src_path, dst_path) != "vector":
        raise ValidationError(f"{src_path}: not a vector file; expected .geojson, .gpkg or .shp")
    params = with_crs(params)
    src_crs, dst_crs = declared_crs(params.src_crs), declared_crs(params.dst_crs)
    driver = VECTOR_DRIVERS[dst_path.suffix.lower()]
    layers = _open_layers(src_path, layer, driver)
    for item in layers:
        if src_crs is not None and item.crs is not None and not item.crs.equals(src_crs):
            raise ValidationError(
                f"{src_path} is in {crs_label(item.crs)} but the parameters are for "
                f"{crs_label(src_crs)}"
            )

    def fn(x, y, z=None):
        out = apply(params, x, y, z if params.model == "7p" else None, check=False)
        return out if z is None or len(out) == 3 else (*out, z)

    hull = HullCheck(params)

    def convert(
        geoms: NDArray[np.object_], labels: Sequence[str], layer_name: str
    ) -> NDArray[np.object_]:
        coords = shapely.get_coordinates(geoms)
        if not len(coords):
            return geoms
        if check:
            check_apply_input(params, coords[:, 0], coords[:, 1], labels)
        hull.add(coords[:, 0], coords[:, 1], labels)
        out = shapely.transform(  # type: ignore[call-overload]  # as in _transform_layer
            geoms, fn, include_z=None, interleaved=False
        )
        if check:
            moved = shapely.get_coordinates(out)  # the same vertices in the same order
            check_apply_output(params, moved[:, 0], moved[:, 1], labels)
        return out

    count = _stream(
        src_path, dst_path, layers, dst_crs, convert, overwrite=overwrite, batch_size=batch_size
    )
    note = hull.note()
    if note is not None and notify is not None:
        notify(f"{src_path}: {note}")
    return count
