"""The data products of the plan (DOMAIN.md section 7) as a registry.

A registry is a value (after morecantile's ``tms``): ``PRODUCTS.get(code)``,
``PRODUCTS.list()``, and ``PRODUCTS.register(product)`` returning a new registry. A
workspace extends or overrides the defaults in the ``[products.<code>]`` tables of its
``geobase.toml`` (see :func:`products_for`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from geobase.errors import ConfigError, NotFoundError, ProductError
from geobase.store.config import parse_section

Kind = Literal["imagery", "dem", "pointcloud", "vector", "model3d"]
KINDS: tuple[str, ...] = ("imagery", "dem", "pointcloud", "vector", "model3d")
# the compression of a raster's derived web-optimised COG: auto = lossless unless the
# delivery itself is lossy (see geobase.ingest.raster.cog_compression)
CogCompression = Literal["auto", "deflate", "lzw", "zstd", "jpeg", "webp"]
COG_COMPRESSIONS: tuple[str, ...] = ("auto", "deflate", "lzw", "zstd", "jpeg", "webp")


@dataclass(frozen=True)
class Product:
    """A data product.

    Attributes:
        code: short code used everywhere (``dom02``, ``dlg500``...).
        name_zh, name_en: labels for reports.
        kind: imagery, dem, pointcloud, vector or model3d.
        resolution: the coarsest ground resolution in metres a delivery may have
            (None: not checked).
        update_cycle_years: data older than this is out of date (现势性).
        scale: map scale denominator for vector products.
        generic: a catch-all product for data that fit no plan product.
        cog_compression: how the web-optimised COG derived from a raster delivery is
            compressed (``auto``: lossless unless the delivery is lossy).
    """

    code: str
    name_zh: str
    name_en: str
    kind: Kind
    resolution: float | None = None
    update_cycle_years: float = 5.0
    scale: int | None = None
    generic: bool = False
    cog_compression: CogCompression = "auto"

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ProductError(
                f"product {self.code}: kind must be one of {KINDS}, got {self.kind!r}"
            )
        if self.resolution is not None and self.resolution <= 0:
            raise ProductError(f"product {self.code}: resolution must be positive")


class ProductSettings(BaseModel):
    """A ``[products.<code>]`` table in geobase.toml."""

    model_config = ConfigDict(extra="forbid", strict=True)

    name_zh: str | None = Field(default=None, min_length=1)
    name_en: str | None = Field(default=None, min_length=1)
    kind: Kind | None = None
    resolution: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    update_cycle_years: float | None = Field(default=None, gt=0, le=100, allow_inf_nan=False)
    scale: int | None = Field(default=None, gt=0)
    cog_compression: CogCompression | None = None


@dataclass(frozen=True)
class ProductRegistry:
    """An immutable registry of products."""

    products: Mapping[str, Product]

    def get(self, code: str) -> Product:
        try:
            return self.products[code]
        except KeyError:
            raise NotFoundError(
                f"unknown product {code!r}; known products: {', '.join(self.products)}"
            ) from None

    def list(self) -> list[str]:
        return list(self.products)

    def __iter__(self):
        return iter(self.products.values())

    def __contains__(self, code: object) -> bool:
        return code in self.products

    def register(self, product: Product, *, overwrite: bool = False) -> ProductRegistry:
        """A new registry with ``product`` added."""
        if product.code in self.products and not overwrite:
            raise ProductError(
                f"product {product.code!r} is already registered; pass overwrite=True to replace it"
            )
        return ProductRegistry({**self.products, product.code: product})

    def generic(self, kind: str) -> Product:
        """The generic product for a kind of data (imagery, dem, pointcloud, vector, model3d)."""
        return next(p for p in self if p.generic and p.kind == kind)


def _defaults() -> Iterable[Product]:
    # (plan) DOMAIN.md section 7; update cycles: imagery yearly for satellite, aerial once
    # in the period (5 years), 1:500 yearly or change-driven.
    yield Product(
        "dom005", "优于0.05米航空影像", "aerial imagery better than 0.05 m", "imagery", 0.05, 5
    )
    yield Product("dom02", "0.2米影像", "imagery 0.2 m", "imagery", 0.2, 5)
    yield Product("dom05", "0.5米卫星影像", "satellite imagery 0.5 m", "imagery", 0.5, 1)
    yield Product("dom1", "1米卫星影像", "satellite imagery 1 m", "imagery", 1.0, 1)
    yield Product("dom2", "2米卫星影像", "satellite imagery 2 m", "imagery", 2.0, 1)
    yield Product("dlg500", "1:500地形图", "topographic map 1:500", "vector", None, 1, 500)
    yield Product("dlg1000", "1:1000地形图", "topographic map 1:1000", "vector", None, 5, 1000)
    yield Product("dlg2000", "1:2000地形图", "topographic map 1:2000", "vector", None, 5, 2000)
    yield Product("model3d", "实景三维模型", "3D real-scene model", "model3d", 0.015, 5)
    yield Product("underwater", "水下地形", "underwater topography 1:2000", "vector", None, 5, 2000)
    yield Product("coastal", "海岸带地形", "coastal zone 1:2000", "vector", None, 5, 2000)
    yield Product("dem", "数字高程模型", "digital elevation model", "dem", None, 5, None, True)
    yield Product("imagery", "其他影像", "other imagery", "imagery", None, 5, None, True)
    yield Product("pointcloud", "点云", "point cloud", "pointcloud", None, 5, None, True)
    yield Product("vector", "其他矢量数据", "other vector data", "vector", None, 5, None, True)


PRODUCTS = ProductRegistry({p.code: p for p in _defaults()})


def products_for(settings: Mapping[str, Mapping[str, Any]]) -> ProductRegistry:
    """The default registry extended/overridden by a workspace's ``[products]`` tables."""
    registry = PRODUCTS
    for code, table in settings.items():
        s = parse_section(ProductSettings, table, f"products.{code}")
        values = {k: v for k, v in s.model_dump().items() if v is not None}
        if code in registry:
            product = replace(registry.get(code), **values)
        else:
            missing = {"name_zh", "name_en", "kind"} - values.keys()
            if missing:
                raise ConfigError(
                    f"geobase.toml [products.{code}]: a new product needs {sorted(missing)}"
                )
            product = Product(code=code, **values)
        registry = registry.register(product, overwrite=True)
    return registry
