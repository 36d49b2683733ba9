"""CGCS2000 geodesy: Gauss-Kruger zones, transforms, parameter fitting, heights.

Foundation layer: imports nothing from the domain packages or the boundaries. Coordinates
are (east, north) = (lon, lat) arrays throughout.

Example:
    >>> from geobase.geodesy import transform, zone_for
    >>> zone_for(116.682).epsg
    4548
    >>> e, n = transform([116.682], [23.354], "EPSG:4490", "gk3:39")
    >>> round(float(e[0]), 4)
    39467483.3555
"""

from geobase.geodesy.constants import (
    CGCS2000,
    EPSG_GEOCENTRIC,
    EPSG_GEOGRAPHIC,
    EPSG_GEOGRAPHIC_3D,
    Ellipsoid,
)
from geobase.geodesy.files import (
    Columns,
    apply_table,
    apply_vector_file,
    column_values,
    convert_heights_table,
    coordinate_columns,
    file_kind,
    io_kind,
    read_table,
    transform_table,
    transform_vector_file,
    write_table,
)
from geobase.geodesy.fit import (
    MODELS,
    Affine,
    BursaWolf,
    CommonPoints,
    FitReport,
    FitResult,
    Helmert2D,
    Poly2,
    ResidualRecord,
    TransformParameters,
    apply,
    fit,
    proj_pipeline,
    write_parameters,
)
from geobase.geodesy.heights import HeightAnomalyGrid
from geobase.geodesy.paramfiles import parse_parameters, read_parameters
from geobase.geodesy.transform import (
    check_coordinates,
    check_target,
    get_transformer,
    transform,
    transform_geometries,
)
from geobase.geodesy.zones import (
    EPSG_RANGE,
    GKSystem,
    GKZone,
    all_zones,
    crs_label,
    gk_system_of,
    gk_zone_of,
    resolve_crs,
    zone_for,
)

__all__ = [
    "CGCS2000",
    "EPSG_GEOCENTRIC",
    "EPSG_GEOGRAPHIC",
    "EPSG_GEOGRAPHIC_3D",
    "EPSG_RANGE",
    "MODELS",
    "Affine",
    "BursaWolf",
    "Columns",
    "CommonPoints",
    "Ellipsoid",
    "FitReport",
    "FitResult",
    "GKSystem",
    "GKZone",
    "HeightAnomalyGrid",
    "Helmert2D",
    "Poly2",
    "ResidualRecord",
    "TransformParameters",
    "all_zones",
    "apply",
    "apply_table",
    "apply_vector_file",
    "check_coordinates",
    "check_target",
    "column_values",
    "convert_heights_table",
    "coordinate_columns",
    "crs_label",
    "file_kind",
    "fit",
    "get_transformer",
    "gk_system_of",
    "gk_zone_of",
    "io_kind",
    "parse_parameters",
    "proj_pipeline",
    "read_parameters",
    "read_table",
    "resolve_crs",
    "transform",
    "transform_geometries",
    "transform_table",
    "transform_vector_file",
    "write_parameters",
    "write_table",
    "zone_for",
]
