"""The workspace store: GeoPackage (embedded default) or PostGIS, behind one interface.

Example:
    >>> from geobase.store import Workspace
    >>> ws = Workspace.init("/tmp/ws")  # doctest: +SKIP
    >>> with ws.store.transaction() as tx:  # doctest: +SKIP
    ...     tx.query("SELECT name FROM districts")
"""

from geobase.store.base import BBox, Store, Transaction, utc_now
from geobase.store.config import CONFIG_NAME, WorkspaceConfig
from geobase.store.workspace import Workspace, open_store

__all__ = [
    "CONFIG_NAME",
    "BBox",
    "Store",
    "Transaction",
    "Workspace",
    "WorkspaceConfig",
    "open_store",
    "utc_now",
]
