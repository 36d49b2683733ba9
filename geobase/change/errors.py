"""The errors of change discovery (narrow subclasses of :class:`GeobaseError`)."""

from __future__ import annotations

from geobase.errors import GeobaseError


class ChangeInputError(GeobaseError, ValueError):
    """The two epochs cannot be compared as given."""


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
