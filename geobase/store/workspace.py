"""A workspace: a folder with ``geobase.toml``, its store and its files."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from geobase.errors import WorkspaceError, WorkspaceNotFound
from geobase.store import migrations
from geobase.store.base import Store
from geobase.store.config import CONFIG_NAME, WorkspaceConfig

logger = logging.getLogger(__name__)


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
    ) -> Workspace:
        """Create a workspace folder with its configuration and an empty store.

        Args:
            path: the folder (created if missing; may exist and hold other files).
            name: workspace name (default: the folder's name).
            store: store URL; default ``workspace.gpkg`` inside the folder.
            crs: the workspace's default projected CRS.
            exist_ok: open an existing workspace instead of refusing.

        Raises:
            WorkspaceError: the folder already holds a workspace (and not ``exist_ok``),
                or cannot be created.
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
            name=name or root.name or "workspace", crs=crs, store=store or "workspace.gpkg"
        )
        # the store first, then the config: a failed init leaves no half workspace behind
        store_obj = open_store(config.store, root, create=True)
        config.write(config_path)
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
