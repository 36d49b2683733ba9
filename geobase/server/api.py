"""The data APIs under ``/api/``: catalogue, products, publications, coverage, control.

Routes are thin: they parse parameters, call the library with the caller's clearance and
shape the answer. Nothing above the caller's clearance is returned, counted or named.
"""

from __future__ import annotations

import datetime as dt
from functools import partial
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from geobase import dates
from geobase.catalog.records import INTEGER_COLUMNS
from geobase.classification import may_see, visible_levels
from geobase.errors import NotFoundError, ValidationError
from geobase.geodesy import lonlat
from geobase.server.deps import Service, clearance_of, get, service_of
from geobase.values import plain, plain_record

router = APIRouter(prefix="/api")


# what the public may learn of a catalogue record (never file paths or checksums)
PUBLIC_FIELDS = (
    "dataset_id",
    "version",
    "product",
    "kind",
    "title",
    "acquired_start",
    "acquired_end",
    "ingested_at",
    "classification",
    "owner",
    "epsg",
    "resolution",
    "bands",
    "point_count",
    "vertical_datum",
)
MAX_LIMIT = 1000
# what a search reads of each record on its page
SEARCH_COLUMNS = ", ".join(("fid", *PUBLIC_FIELDS, "geom"))


def parse_bbox(text: str | None) -> tuple[float, float, float, float] | None:
    """``west,south,east,north`` in degrees (EPSG:4490), validated."""
    if text is None:
        return None
    return lonlat.parse_bbox(text[:200], "bbox")


def parse_interval(text: str | None) -> tuple[dt.date | None, dt.date | None]:
    """``YYYY-MM-DD`` or ``start/end`` with ``..`` for an open end (as STAC's datetime)."""
    if text is None:
        return None, None
    parts = text.split("/")
    if len(parts) > 2:
        raise ValidationError(f"datetime {text[:80]!r} must be DATE or START/END")

    def one(part: str) -> dt.date | None:
        part = part.strip()
        if part in ("", ".."):
            return None
        return dates.parse_date(part, "datetime")

    if len(parts) == 1:
        day = one(parts[0])
        return day, day
    start, end = one(parts[0]), one(parts[1])
    if start and end and start > end:
        raise ValidationError(f"datetime {text[:80]!r} starts after it ends")
    return start, end


def _public(record: dict[str, Any]) -> dict[str, Any]:
    """What the public may learn of a catalogue record, as plain JSON values."""
    return plain_record(record, PUBLIC_FIELDS, integers=INTEGER_COLUMNS)


def _json_or_geojson(request: Request, fmt: str | None) -> str:
    if fmt is not None:
        return fmt
    accept = request.headers.get("accept", "")
    return "geojson" if "application/geo+json" in accept else "json"


@get(router, "/products", summary="Data products / 数据产品")
def products(request: Request, service: Annotated[Service, Depends(service_of)]) -> Response:
    """The products of the plan and of this workspace."""
    rows = [
        {
            "code": p.code,
            "name_zh": p.name_zh,
            "name_en": p.name_en,
            "kind": p.kind,
            "resolution": p.resolution,
            "update_cycle_years": p.update_cycle_years,
            "scale": p.scale,
        }
        for p in service.products
    ]
    return service.json(request, {"products": rows}, private=False)


@get(
    router,
    "/catalog/search",
    summary="Search the catalogue / 检索资源目录",
    responses={200: {"content": {"application/json": {}, "application/geo+json": {}}}},
)
async def catalog_search(
    request: Request,
    service: Annotated[Service, Depends(service_of)],
    clearance: Annotated[str, Depends(clearance_of)],
    bbox: Annotated[
        str | None, Query(description="west,south,east,north in degrees (EPSG:4490)")
    ] = None,
    product: Annotated[str | None, Query(description="product code, e.g. dom02")] = None,
    datetime: Annotated[
        str | None,
        Query(description="acquisition date or interval: 2024-05-01, 2023-01-01/.., ../2024-12-31"),
    ] = None,
    as_of: Annotated[
        dt.date | None, Query(description="the catalogue as it stood on this date")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    format: Annotated[Literal["json", "geojson"] | None, Query()] = None,
) -> Response:
    """Current datasets meeting a bbox, product and acquisition interval, newest first.

    Only datasets the caller's clearance reaches are searched, counted and returned
    (:func:`geobase.catalog.search.search` with the visible classification levels).
    """
    box = parse_bbox(bbox)
    start, end = parse_interval(datetime)
    if product is not None and product not in service.products:
        raise ValidationError(
            f"unknown product {product[:40]!r}; known: {', '.join(service.products.list())}"
        )
    from geobase.catalog.search import search_page

    query = partial(
        search_page,
        service.ws.store,
        bbox=box,
        product=product,
        start=start,
        end=end,
        classification=visible_levels(clearance),
        as_of=as_of,
        limit=limit,
        offset=offset,
        columns=SEARCH_COLUMNS,
    )
    # a search is a few indexed queries: on the embedded GeoPackage (a local file, well
    # under a millisecond) it runs in the event loop, which costs less than a trip
    # through the thread pool; a store across the network is asked from the pool
    matched, page = (
        query() if service.ws.store.dialect == "gpkg" else await run_in_threadpool(query)
    )
    fmt = _json_or_geojson(request, format)
    private = clearance != "public"
    if fmt == "geojson":
        import shapely

        features = [
            {
                "type": "Feature",
                "id": f"{r['dataset_id']}@{r['version']}",
                "geometry": None
                if r.get("geometry") is None
                else shapely.geometry.mapping(r["geometry"]),
                "properties": _public(r),
            }
            for r in page
        ]
        doc = {
            "type": "FeatureCollection",
            "numberMatched": matched,
            "numberReturned": len(features),
            "features": features,
        }
        return service.json(request, doc, private=private, media_type="application/geo+json")
    items = []
    for r in page:
        item = _public(r)
        geom = r.get("geometry")
        item["bbox"] = None if geom is None or geom.is_empty else [round(v, 7) for v in geom.bounds]
        items.append(item)
    doc = {"numberMatched": matched, "numberReturned": len(items), "datasets": items}
    return service.json(request, doc, private=private)


@get(router, "/catalog/datasets/{dataset_id}", summary="One dataset / 单个数据集")
def catalog_dataset(
    request: Request,
    dataset_id: str,
    service: Annotated[Service, Depends(service_of)],
    clearance: Annotated[str, Depends(clearance_of)],
) -> Response:
    """The current version of one dataset (404 if it is unknown or above the caller's clearance)."""
    from geobase.catalog.search import search_page

    _, found = search_page(
        service.ws.store,
        dataset_id=dataset_id,
        classification=visible_levels(clearance),
        limit=1,
        columns=SEARCH_COLUMNS,
    )
    for rec in found:
        if may_see(rec.get("classification"), clearance):
            import shapely

            doc = {
                "type": "Feature",
                "id": f"{rec['dataset_id']}@{rec['version']}",
                "geometry": None
                if rec.get("geometry") is None
                else shapely.geometry.mapping(rec["geometry"]),
                "properties": _public(rec),
            }
            return service.json(
                request, doc, private=clearance != "public", media_type="application/geo+json"
            )
    raise NotFoundError(f"dataset {dataset_id[:80]!r} not found")


@get(router, "/publications", summary="Publication log / 发布记录")
def publications(
    request: Request,
    service: Annotated[Service, Depends(service_of)],
    clearance: Annotated[str, Depends(clearance_of)],
    kind: Annotated[str | None, Query(description="only releases of this kind")] = None,
    since: Annotated[dt.date | None, Query()] = None,
    until: Annotated[dt.date | None, Query()] = None,
) -> Response:
    """Releases the caller may see, newest first."""
    from geobase.catalog.publications import publication_log

    releases = publication_log(
        service.ws.store, kind=kind, since=since, until=until, clearance=clearance
    )
    return service.json(
        request,
        {"publications": plain(releases), "count": len(releases)},
        private=clearance != "public",
    )


@get(router, "/publications/cadence", summary="Publication cadence check / 发布频次检查")
def publications_cadence(
    request: Request,
    service: Annotated[Service, Depends(service_of)],
    clearance: Annotated[str, Depends(clearance_of)],
    as_of: Annotated[dt.date | None, Query()] = None,
) -> Response:
    """How the log stands against the plan's cadence (catalogue quarterly, imagery yearly...).

    Counts only the releases the caller may see.
    """
    from dataclasses import asdict

    from geobase.catalog.publications import check_cadence

    rows = [asdict(s) for s in check_cadence(service.ws.store, as_of=as_of, clearance=clearance)]
    doc = {"as_of": (as_of or dt.date.today()), "cadence": rows}
    return service.json(request, doc, private=clearance != "public")


def _visible(frame, clearance: str):
    mask = [may_see(c, clearance) for c in frame["classification"]]
    return frame[mask] if len(frame) else frame


@get(router, "", summary="API index / 接口目录")
def index(
    request: Request,
    service: Annotated[Service, Depends(service_of)],
    clearance: Annotated[str, Depends(clearance_of)],
) -> Response:
    """What the API offers the caller: coverage layers, control points, links."""
    base = service.base_url(request)
    frame = _visible(service.datasets(), clearance)
    coverage = []
    for code in sorted(set(frame["product"])) if len(frame) else []:
        product = service.products.get(code) if code in service.products else None
        coverage.append(
            {
                "product": code,
                "name_zh": product.name_zh if product else code,
                "name_en": product.name_en if product else code,
                "href": f"{base}/api/coverage/{code}",
            }
        )
    doc = {
        "title": service.title,
        "coverage": coverage,
        "control": f"{base}/api/control/public",
        "links": [
            {"rel": "service-desc", "href": f"{base}/api/openapi.json"},
            {"rel": "data", "href": f"{base}/api/catalog/search"},
            {"rel": "tiles", "href": f"{base}/tiles"},
            {"rel": "wmts", "href": f"{base}/wmts/1.0.0/WMTSCapabilities.xml"},
            {"rel": "publications", "href": f"{base}/api/publications"},
            {"rel": "changes", "href": f"{base}/api/changes"},
        ],
    }
    return service.json(request, doc, private=clearance != "public")


@get(router, "/coverage/{product}", summary="Coverage of a product / 产品覆盖范围")
def coverage(
    request: Request,
    product: str,
    service: Annotated[Service, Depends(service_of)],
    clearance: Annotated[str, Depends(clearance_of)],
    as_of: Annotated[dt.date | None, Query()] = None,
) -> Response:
    """The area a product covers (from the current datasets the caller may see), as GeoJSON.

    One feature per acquisition year, newest first, with the datasets' count and dates,
    so that a viewer can colour coverage by currency (现势性).
    """
    import shapely

    from geobase.catalog.records import dataset_records
    from geobase.coverage.years import coverage_by_year

    if product not in service.products:
        raise NotFoundError(f"no product {product[:40]!r}")
    frame = _visible(service.datasets(product=product, as_of=as_of), clearance)
    features = [
        {
            "type": "Feature",
            "id": f"{product}-{year.label}",
            "geometry": None if year.area is None else shapely.geometry.mapping(year.area),
            "properties": {
                "product": product,
                "year": year.label,
                "datasets": year.datasets,
                "acquired_latest": plain(year.acquired_latest),
                "acquired_earliest": plain(year.acquired_earliest),
            },
        }
        for year in coverage_by_year(dataset_records(frame))
    ]
    doc = {"type": "FeatureCollection", "product": product, "features": features}
    return service.json(
        request, doc, private=clearance != "public", media_type="application/geo+json"
    )


@get(router, "/control/public", summary="Public control points / 公开控制点 (generalised)")
def control_public(
    request: Request,
    service: Annotated[Service, Depends(service_of)],
) -> Response:
    """Control points as the public may see them (DOMAIN.md section 8), as GeoJSON.

    Restricted grades (CORS, B, C, ...) are left out and positions are generalised by
    the control package's public export (0.001°, heights to 1 m); the same answer is
    given with or without a token.
    """
    from geobase.control.export import registry_frame

    frame = registry_frame(service.ws, public=True)
    features = []
    for rec in frame.to_dict("records"):
        geom = rec.pop("geometry", None)
        features.append(
            {
                "type": "Feature",
                "id": rec.get("point_id"),
                "geometry": None
                if geom is None
                else {"type": "Point", "coordinates": [geom.x, geom.y]},
                "properties": plain(rec),
            }
        )
    doc = {"type": "FeatureCollection", "features": features, "generalised": True}
    return service.json(request, doc, media_type="application/geo+json")
