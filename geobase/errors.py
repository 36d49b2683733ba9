"""The geobase error hierarchy.

Every failure the library reports is a subclass of :class:`GeobaseError`. Errors caused by
the caller's input also inherit a builtin (``ValueError``, ``LookupError``, ``OSError``) so
that ordinary ``except ValueError`` code keeps working. The boundaries (``cli/``,
``server/``) translate these classes to exit codes and HTTP statuses with one table each.

Messages are one line: what was received, what was expected and, where known, the likely
cause.
"""

from __future__ import annotations

import errno as _errno
from collections.abc import Sequence


class GeobaseError(Exception):
    """Root of every error geobase raises."""


# --- input: coordinates and reference systems ---------------------------------------


class InvalidCoordinates(GeobaseError, ValueError):
    """Coordinates are malformed, out of range or inconsistent with their CRS."""


class AxisOrderError(InvalidCoordinates):
    """Coordinates look like northing/easting swapped (surveying x/y given as GIS x/y)."""


class ZonePrefixError(InvalidCoordinates):
    """An easting carries a zone-number prefix its CRS lacks, or lacks one it needs."""


class OutsideGridError(InvalidCoordinates):
    """A point lies outside the extent of a grid (height-anomaly grid, sheet grid)."""


class OutsideZoneError(InvalidCoordinates):
    """Gauss-Kruger coordinates lie outside their zone (beyond the overlap with its neighbours)."""


class UnknownCRS(GeobaseError, ValueError):
    """A CRS specification that neither geobase nor PROJ understands."""


class BallparkTransformation(GeobaseError, ValueError):
    """PROJ knows only a ballpark (zero) shift between a legacy datum and the other CRS."""


class FitError(GeobaseError, ValueError):
    """Transformation parameters cannot be estimated from the given common points."""


class ImplausibleFit(FitError):
    """Fitted parameters are impossible for the CRSs given (swapped columns, wrong CRS)."""


class ParameterFileError(GeobaseError, ValueError):
    """A transformation parameter file is malformed or of an unsupported version."""


class SheetCodeError(GeobaseError, ValueError):
    """A map-sheet code or scale is malformed or unknown."""


class SheetGridTooLarge(GeobaseError, ValueError):
    """An area would need more candidate map sheets than the allowed maximum."""


class InvalidEllipsoid(GeobaseError, ValueError):
    """Ellipsoid parameters that define no ellipsoid (a <= 0 or 1/f <= 1)."""


# --- input: files and records ---------------------------------------------------------


class SourceReadError(GeobaseError, OSError):
    """An input file cannot be read: missing, empty, truncated, corrupt or undecodable."""


class EmptyInputError(SourceReadError):
    """An input file holds no records."""


class ValidationError(GeobaseError, ValueError):
    """Records fail validation; ``problems`` lists (line, reason) for each bad record."""

    def __init__(
        self, message: str, problems: Sequence[tuple[int | None, str]] | None = None
    ) -> None:
        super().__init__(message)
        self.problems: list[tuple[int | None, str]] = list(problems or [])


class GeometryError(ValidationError):
    """A geometry is non-finite, missing or empty where needed, or invalid (self-crossing)."""


class InvalidDate(ValidationError):
    """A date is malformed or no calendar day (2024-02-30)."""


class FutureDate(InvalidDate):
    """A date that states what has happened (acquisition, as-of) lies after today."""


class DateRangeError(InvalidDate):
    """A date range (an acquisition window) ends before it starts."""


class UnencodableText(ValidationError):
    """A value holds a character the chosen output encoding cannot write."""


class NotFoundError(GeobaseError, LookupError):
    """A record (mark, dataset, pyramid, district) does not exist."""


class InvalidName(ValidationError):
    """A dataset id, pyramid name or token name outside the one pattern (geobase.names)."""


class OutsideWorkspace(GeobaseError, ValueError):
    """A path geobase would write or delete resolves outside the workspace or named output."""


class OutputWriteError(GeobaseError, OSError):
    """An output file cannot be written (read-only folder, disk full, size limit); none is left."""


class PlanError(GeobaseError, ValueError):
    """A coverage plan file is malformed or names unknown products, districts or years."""


class InvalidOption(GeobaseError, ValueError):
    """A function argument outside the values it accepts (a significance level, an encoding)."""


class ProductError(GeobaseError, ValueError):
    """A product definition is invalid, or its code is registered already."""


# --- input: data deliveries (ingest) --------------------------------------------------


class UnsupportedInput(GeobaseError, ValueError):
    """A delivery is of a kind geobase cannot ingest, or does not fit the chosen product."""


class MissingCRS(GeobaseError, ValueError):
    """A delivery carries no coordinate reference system and none was given (--crs)."""


class MissingAcquisitionDate(GeobaseError, ValueError):
    """No acquisition date in the data or its sidecar, and none was given (--acquired)."""


class ResolutionMismatch(UnsupportedInput):
    """A delivery is coarser than its product allows (0.05 m imagery must be 0.05 m or finer)."""


class DefectError(GeobaseError, ValueError):
    """A QC defect record is malformed: an unknown severity, a bad check id or no place."""


# --- change discovery -----------------------------------------------------------------


class ChangeInputError(GeobaseError, ValueError):
    """The two epochs of a change detection cannot be compared as given."""


class EpochSpecError(ChangeInputError):
    """An epoch is not a raster file, a dataset id or PRODUCT@DATE."""


class NoOverlapError(ChangeInputError):
    """The two epochs share no area."""


class NoTransformError(ChangeInputError):
    """The epochs' CRSs have no usable transformation between them."""


class EmptyEpochError(ChangeInputError):
    """An epoch has no valid pixel in the common area."""


class RegistrationError(ChangeInputError):
    """The epochs are shifted against each other beyond what can be corrected."""


class ChangeResultError(GeobaseError, ValueError):
    """A file is not a readable change result (no ``changes`` layer of change polygons)."""


# --- control network (registry, inspections, datasheets) -----------------------------


class UnknownGrade(GeobaseError, ValueError):
    """A control-point grade that no grading scheme (GNSS, levelling, CJJ, CORS) knows."""


class InspectionError(GeobaseError, ValueError):
    """An inspection cannot be recorded: future date, retired mark, inconsistent fields."""


class InspectionLineError(InspectionError):
    """A line of an inspection stream is malformed or cannot be recorded (names its line)."""


class EvidenceRequired(InspectionError):
    """A mark reported destroyed has no evidence file (record it as "not found" instead)."""


class FontNotFound(GeobaseError, OSError):
    """No CJK TrueType font is installed to render Chinese text in a PDF."""


class DemoDataMissing(GeobaseError, FileNotFoundError):
    """The demo's inputs (datasets/, control_points/, datasets/real/) are not in a clone."""


# --- workspace and store --------------------------------------------------------------


class WorkspaceError(GeobaseError):
    """A workspace is missing, malformed or of an unsupported version."""


class ConfigError(WorkspaceError, ValueError):
    """geobase.toml holds an unknown key, a value of the wrong type or one out of range."""


class WorkspaceNotFound(WorkspaceError, FileNotFoundError):
    """No geobase.toml in the given folder or any of its parents."""


class DataFileMissing(WorkspaceError, FileNotFoundError):
    """A file the store names is not under the workspace's data root (moved, not mounted)."""


class DataRootError(WorkspaceError, ValueError):
    """A data root names no folder, or the folder a copied store recorded is missing here."""


class StoreError(GeobaseError):
    """The store failed to complete an operation."""


class SchemaTooNew(StoreError):
    """The store records migrations this version of geobase does not know (a newer geobase)."""


class MigrationError(StoreError):
    """The migrations shipped with geobase are inconsistent (two share a version number)."""


class ConflictError(StoreError):
    """A record was changed by someone else since it was read (optimistic versioning)."""


class AccessDenied(GeobaseError, PermissionError):
    """The caller may not see or change this resource."""


class InvalidToken(AccessDenied):
    """A bearer token is malformed, unknown or revoked."""


class UnknownClassification(GeobaseError, ValueError):
    """A classification level that is not public, internal or restricted."""


# --- tiles ----------------------------------------------------------------------------


class OutputExistsError(GeobaseError, FileExistsError):
    """An output path exists and replacing it was not asked for (--overwrite)."""


class TileStoreError(GeobaseError, ValueError):
    """A tile store cannot hold this pyramid (format, grid) or is not a tile store."""


class TileBuildError(GeobaseError):
    """A tile build failed while rendering or writing (nothing was replaced)."""


class TileSettingsError(GeobaseError, ValueError):
    """Tile build settings (zoom range, format, render mode, window) are invalid or conflict."""


# --- emergency packages ---------------------------------------------------------------


class AreaOfInterestError(GeobaseError, ValueError):
    """An area of interest is malformed, unreadable, empty or outside the workspace's districts."""


# --- operating-system errors, described once for both boundaries ---------------------

#: errno -> the likely cause, said the same way by the CLI, the server and the writers.
_OS_CAUSES: dict[int, str] = {
    _errno.EROFS: "read-only file system (write to a writable folder)",
    _errno.EACCES: "permission denied (check the folder's and file's permissions)",
    _errno.EPERM: "operation not permitted (check the folder's and file's permissions)",
    _errno.ENOSPC: "no space left on the device (free space or write elsewhere)",
    _errno.EDQUOT: "disk quota exceeded (free space or write elsewhere)",
    _errno.EFBIG: "file too large (a file-size limit applies: see 'ulimit -f')",
    _errno.ENOENT: "no such file or folder (check the path; create the folder first)",
    _errno.ENOTDIR: "a part of the path is a file, not a folder",
    _errno.EISDIR: "is a folder, not a file",
    _errno.EEXIST: "already exists",
    _errno.ENAMETOOLONG: "the name is too long for the file system",
    _errno.EMFILE: "too many open files (raise 'ulimit -n')",
    _errno.EIO: "input/output error (a failing disk or network mount?)",
    _errno.ELOOP: "too many levels of symbolic links",
}


def describe_os_error(exc: OSError) -> str:
    """An operating-system error as one line: the path it names, what happened, the cause.

    Example:
        >>> describe_os_error(OSError(30, "Read-only file system", "/x/y.csv"))
        '/x/y.csv: read-only file system (write to a writable folder)'
    """
    cause = _OS_CAUSES.get(exc.errno) if exc.errno is not None else None
    if cause is None:
        text = exc.strerror or str(exc) or type(exc).__name__
        cause = " ".join(str(text).split())
    where = exc.filename if exc.filename is not None else None
    if exc.filename2 is not None:
        where = f"{exc.filename} -> {exc.filename2}"
    return f"{where}: {cause}" if where is not None else cause
