"""The dataset catalogue: records, products, search, STAC export, publication log."""

from geobase.catalog.products import PRODUCTS, Product, ProductRegistry, products_for
from geobase.catalog.records import current_datasets

__all__ = ["PRODUCTS", "Product", "ProductRegistry", "current_datasets", "products_for"]
