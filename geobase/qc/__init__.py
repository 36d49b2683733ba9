"""Delivery acceptance checks (成果质检): orthophotos, DEMs, point clouds and vector maps
checked against their product's specification, every defect with its place.

``check_delivery(paths, product, workspace=...)`` returns a :class:`QCReport`; the
report is written as JSON, a GeoPackage layer of defect geometries and a bilingual HTML
page (:mod:`geobase.qc.output`), and recorded with a dataset at ingest
(:mod:`geobase.qc.records`).
"""

from geobase.qc.defects import Defect, QCReport
from geobase.qc.run import check_delivery

__all__ = ["Defect", "QCReport", "check_delivery"]
