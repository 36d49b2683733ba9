"""A workspace: a folder with ``geobase.toml``, its store and its files."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from geobase.errors import DataFileMissing, DataRootError, WorkspaceError, WorkspaceNotFound
from geobase.store import migrations
from geobase.store.base import Store
from geobase.store.config import CONFIG_NAME, WorkspaceConfig

logger = logging.getLogger(__name__)

# the geobase_meta key under which a store copied from a workspace names where that
# workspace's files were (an absolute path on the machine that copied it)
DATA_ROOT_KEY = "data_root"


def recorded_data_root(store: Store) -> str | None:
    """The data root a store copy recorded in the store (``geobase store copy``), if any."""
    with store.read() as tx:
        return tx.scalar("SELECT value FROM geobase_meta WHERE key = :k", {"k": DATA_ROOT_KEY})


def record_data_root(tx, folder: Path) -> None:
    """Record in a store (inside a write transaction) where its files lie."""
    tx.execute(
        "INSERT INTO geobase_meta (key, value) VALUES (:k, :v) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        {"k": DATA_ROOT_KEY, "v": str(folder)},
    )


def open_store(url: str, root: Path | None = None, *, create: bool = False) -> Store:
    """The store a URL names: ``postgresql://...`` for PostGIS, else a GeoPackage path.

    A relative GeoPackage path is taken relative to ``root`` (the workspace folder).
    Migrations are applied before the store is returned.
    """
    if url.startswith(("postgresql://", "postgres://")):
        try:
            from geobase.store.postgis import PostGISStore
        except ImportError as exc:
            raise WorkspaceError(
                f"store URL {url.split('@')[-1]} needs the PostGIS backend: "
                f"pip install 'geobase[postgis]' ({exc})"
            ) from None
        store: Store = PostGISStore(url, create=create)
    else:
        from geobase.store.geopackage import GeoPackageStore

        path = Path(url)
        if root is not None and not path.is_absolute():
            path = root / path
        store = GeoPackageStore(path, create=create)
    try:
        migrations.apply(store)
    except BaseException:
        store.close()
        raise
    return store


def resolve_data_root(root: Path, data_root: str | None) -> Path:
    """The absolute data root of a workspace folder (``data_root`` relative to it)."""
    if data_root is None:
        return root
    path = Path(data_root).expanduser()
    return path if path.is_absolute() else root / path


def _data_root_from_store(store: Store, root: Path) -> str | None:
    """The data root a copied store names, checked to exist here (None: the workspace)."""
    recorded = recorded_data_root(store)
    if recorded is None:
        return None
    folder = Path(recorded)
    if folder.resolve() == root.resolve():
        return None
    if not folder.is_dir():
        raise DataRootError(
            f"the store's files were under {recorded} when it was copied, and that folder "
            "does not exist here; pass --data-root naming where they are (or this workspace "
            "folder, if they are to be put in it)"
        )
    logger.info("data root %s, as recorded in the store", folder)
    return str(folder)


class Workspace:
    """A geobase workspace.

    Example:
        >>> ws = Workspace.init("/tmp/shantou", name="shantou")  # doctest: +SKIP
        >>> ws.config.crs  # doctest: +SKIP
        'EPSG:4548'
    """

    def __init__(self, root: Path, config: WorkspaceConfig, store: Store):
        self.root = root
        self.config = config
        self.store = store

    @classmethod
    def init(
        cls,
        path: str | Path,
        *,
        name: str | None = None,
        store: str | None = None,
        crs: str = "EPSG:4548",
        exist_ok: bool = False,
        data_root: str | Path | None = None,
    ) -> Workspace:
        """Create a workspace folder with its configuration and an empty store.

        Args:
            path: the folder (created if missing; may exist and hold other files).
            name: workspace name (default: the folder's name).
            store: store URL; default ``workspace.gpkg`` inside the folder.
            crs: the workspace's default projected CRS.
            exist_ok: open an existing workspace instead of refusing.
            data_root: the folder the workspace's files lie under; must exist. A
                relative path is taken relative to the workspace folder, as in
                ``geobase.toml``. Default: the folder a store copy recorded in the store
                (``geobase store copy``), else the workspace folder.

        Raises:
            WorkspaceError: the folder already holds a workspace (and not ``exist_ok``),
                cannot be created, or the data root is not an existing folder.
        """
        root = Path(path).absolute()
        config_path = root / CONFIG_NAME
        if config_path.exists():
            if exist_ok:
                return cls.open(root)
            raise WorkspaceError(f"{root} already holds a workspace ({CONFIG_NAME} exists)")
        if root.exists() and not root.is_dir():
            raise WorkspaceError(f"{root} exists and is not a folder")
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise WorkspaceError(f"cannot create workspace folder {root}: {exc.strerror}") from None
        config = WorkspaceConfig(
            name=name or root.name or "workspace",
            crs=crs,
            store=store or "workspace.gpkg",
            data_root=None if data_root is None else str(data_root),
        )
        if data_root is not None:
            folder = resolve_data_root(root, config.data_root)
            if not folder.is_dir():
                raise DataRootError(
                    f"data root {folder} is not an existing folder; create it, or name the "
                    "folder the workspace's data/ and tiles/ are in"
                )
        # the store first, then the config: a failed init leaves no half workspace behind
        store_obj = open_store(config.store, root, create=True)
        try:
            if data_root is None:
                config.data_root = _data_root_from_store(store_obj, root)
            config.write(config_path)
        except BaseException:
            store_obj.close()
            raise
        logger.info("created workspace %s", root)
        return cls(root, config, store_obj)

    @classmethod
    def open(cls, path: str | Path) -> Workspace:
        """Open the workspace in a folder (its ``geobase.toml`` must exist)."""
        root = Path(path).absolute()
        config_path = root / CONFIG_NAME
        if not config_path.is_file():
            raise WorkspaceNotFound(
                f"{root} is not a geobase workspace (no {CONFIG_NAME}); run 'geobase init {path}'"
            )
        config = WorkspaceConfig.read(config_path)
        return cls(root, config, open_store(config.store, root))

    @classmethod
    def find(cls, start: str | Path | None = None) -> Workspace:
        """Open the workspace holding ``start`` (default: the current folder), walking up like git."""
        here = Path(start or os.getcwd()).absolute()
        for folder in (here, *here.parents):
            if (folder / CONFIG_NAME).is_file():
                return cls.open(folder)
        raise WorkspaceNotFound(
            f"no {CONFIG_NAME} in {here} or its parents; pass --workspace DIR or run 'geobase init'"
        )

    def path(self, *parts: str) -> Path:
        """A path inside the workspace folder."""
        return self.root.joinpath(*parts)

    @property
    def data_root(self) -> Path:
        """The folder the workspace's files lie under (``data_root`` in geobase.toml)."""
        return resolve_data_root(self.root, self.config.data_root)

    def data_path(self, *parts: str) -> Path:
        """A path under the data root (where ``data/``, ``tiles/`` and evidence are written)."""
        return self.data_root.joinpath(*parts)

    def file(self, stored: str | Path, *, must_exist: bool = False) -> Path:
        """The file or folder a path recorded in the store names.

        The one place a stored path is resolved: a relative path (what geobase records
        for everything under the data root) is taken relative to the data root; an
        absolute one (a pyramid written outside the workspace) is returned as is.

        Raises:
            DataFileMissing: ``must_exist`` and nothing is there (the data root names a
                folder the files are not in, or the archive is not mounted).
        """
        path = Path(stored)
        found = path if path.is_absolute() else self.data_root / path
        if must_exist and not found.exists():
            where = (
                f"the data root {self.data_root}"
                if self.config.data_root is not None
                else f"the workspace folder {self.root} (its data root)"
            )
            raise DataFileMissing(
                f"{stored}: not found under {where}; if the files are elsewhere, set "
                f"data_root in {self.root / CONFIG_NAME} to the folder that holds data/"
            )
        return found

    def stored_path(self, path: str | Path) -> str:
        """What to record in the store for a file: relative to the data root (POSIX
        separators) when it lies under it, else its absolute path."""
        path = Path(path).absolute()
        for base, target in ((self.data_root, path), (self.data_root.resolve(), path.resolve())):
            try:
                return target.relative_to(base).as_posix()
            except ValueError:
                continue
        return str(path.resolve())

    def save_config(self) -> None:
        """Write the (changed) configuration back to ``geobase.toml``."""
        self.config.write(self.root / CONFIG_NAME)

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Workspace({str(self.root)!r}, store={self.store.dialect})"
