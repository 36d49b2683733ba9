"""The geobase error hierarchy.

Every failure the library reports is a subclass of :class:`GeobaseError`. Errors caused by
the caller's input also inherit a builtin (``ValueError``, ``LookupError``, ``OSError``) so
that ordinary ``except ValueError`` code keeps working. The boundaries (``cli/``,
``server/``) translate these classes to exit codes and HTTP statuses with one table each.

Messages are one line: what was received, what was expected and, where known, the likely
cause.
"""

from __future__ import annotations


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


class UnknownCRS(GeobaseError, ValueError):
    """A CRS specification that neither geobase nor PROJ understands."""


class FitError(GeobaseError, ValueError):
    """Transformation parameters cannot be estimated from the given common points."""


class ParameterFileError(GeobaseError, ValueError):
    """A transformation parameter file is malformed or of an unsupported version."""


class SheetCodeError(GeobaseError, ValueError):
    """A map-sheet code or scale is malformed or unknown."""


class SheetGridTooLarge(GeobaseError, ValueError):
    """An area would need more candidate map sheets than the allowed maximum."""


# --- input: files and records ---------------------------------------------------------


class SourceReadError(GeobaseError, OSError):
    """An input file cannot be read: missing, empty, truncated, corrupt or undecodable."""


class EmptyInputError(SourceReadError):
    """An input file holds no records."""


class ValidationError(GeobaseError, ValueError):
    """Records fail validation; ``problems`` lists (line, reason) for each bad record."""

    def __init__(self, message: str, problems: list[tuple[int | None, str]] | None = None):
        super().__init__(message)
        self.problems = list(problems or [])


class NotFoundError(GeobaseError, LookupError):
    """A record (mark, dataset, pyramid, district) does not exist."""


# --- workspace and store --------------------------------------------------------------


class WorkspaceError(GeobaseError):
    """A workspace is missing, malformed or of an unsupported version."""


class WorkspaceNotFound(WorkspaceError, FileNotFoundError):
    """No geobase.toml in the given folder or any of its parents."""


class StoreError(GeobaseError):
    """The store failed to complete an operation."""


class ConflictError(StoreError):
    """A record was changed by someone else since it was read (optimistic versioning)."""


class AccessDenied(GeobaseError, PermissionError):
    """The caller may not see or change this resource."""
