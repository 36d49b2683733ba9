"""Settings of the spatial information service (the ``[server]`` table of geobase.toml)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ServerSettings(BaseModel):
    """What ``create_app`` needs.

    Attributes:
        workspace: the workspace folder to serve.
        title: the service's title (capabilities, viewer, OpenAPI); default from the
            workspace's name (:func:`default_title`).
        attribution: the TileJSON attribution of its tiles; default the title.
        cors_origins: origins allowed to call the service from a browser (``*``: any).
        tile_max_age: ``Cache-Control`` max-age of tiles, in seconds.
        api_max_age: ``Cache-Control`` max-age of API documents, in seconds.
        gzip_min_size: JSON/XML/HTML bodies at least this large are gzip-compressed
            when the client accepts it.
        tile_cache_mb: memory for recently served tiles (0: no cache).
        token_cache_s: how long a verified token is trusted before the store is asked
            again (a revocation takes effect within this time).
        public_url: the base URL clients see (behind a proxy); default: from the request.
        tile_fast_path: answer cached public tiles before the framework
            (:mod:`geobase.server.fastpath`, the same answers faster); ``false`` sends
            every request through the full route, the fast path's reference (to rule
            the fast path out when a tile answer looks wrong: ``[server]
            tile_fast_path = false`` in geobase.toml).
        nginx_public_marks: a folder (nginx must be able to read it) where the server
            keeps one file per directory pyramid anybody may have now; the
            configuration ``geobase serve --emit-nginx`` writes then lets nginx send
            those pyramids' anonymous tiles without asking the server for each
            (:func:`geobase.server.nginx.refresh_public_marks`). Relative to the
            workspace. Default: none (nginx asks for every tile).
        changes: change results (``geobase change detect`` GeoPackages) the viewer shows
            over their two epochs: files, or folders whose ``*.gpkg`` files are results;
            relative to the workspace. Default: the workspace's ``changes/`` folder
            (:mod:`geobase.server.changes`).
    """

    model_config = ConfigDict(extra="forbid")

    workspace: Path
    title: str | None = Field(default=None, min_length=1)
    attribution: str | None = Field(default=None, min_length=1)
    cors_origins: list[str] = Field(default_factory=lambda: ["*"])
    tile_max_age: int = Field(default=3600, ge=0)
    api_max_age: int = Field(default=60, ge=0)
    gzip_min_size: int = Field(default=512, ge=0)
    tile_cache_mb: int = Field(default=64, ge=0)
    token_cache_s: float = Field(default=5.0, ge=0)
    public_url: str | None = None
    tile_fast_path: bool = True
    nginx_public_marks: Path | None = None
    changes: list[Path] = Field(default_factory=lambda: [Path("changes")])

    @classmethod
    def for_workspace(cls, workspace: Path | str, **overrides: Any) -> ServerSettings:
        """Settings from the workspace's ``[server]`` table, with ``overrides`` on top."""
        from geobase.store.config import CONFIG_NAME, WorkspaceConfig, parse_section

        root = Path(workspace).absolute()
        config = WorkspaceConfig.read(root / CONFIG_NAME)
        data = {**config.server, **{k: v for k, v in overrides.items() if v is not None}}
        data["workspace"] = root
        settings = parse_section(cls, data, "server")
        if (
            settings.nginx_public_marks is not None
            and not settings.nginx_public_marks.is_absolute()
        ):
            settings.nginx_public_marks = root / settings.nginx_public_marks
        return settings

    def for_service(self, name: str) -> ServerSettings:
        """These settings with the title (and attribution) of a workspace called ``name``
        filled in where the ``[server]`` table leaves them out."""
        title = self.title or default_title(name)
        return self.model_copy(update={"title": title, "attribution": self.attribution or title})


def default_title(name: str) -> str:
    """The service's title when ``[server] title`` names none: the workspace's name."""
    return f"{name} — 地理信息服务 Geographic information service"
