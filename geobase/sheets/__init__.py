"""Map-sheet numbering: GB/T 13989-2012 national sheets and rectangular city sheets.

National sheets (国家基本比例尺地形图分幅) cover 1:1,000,000 to 1:500. A 1:1,000,000 sheet
spans 6° x 4° and is named by its row letter (A..V, 4° bands from the equator) and its
column (01..60, 6° bands from 180°W): ``F50``. Every larger scale divides the 1:1M sheet
into a square grid whose rows are counted from the north edge and columns from the west
edge, both from 1: ``F50G016043`` (1:10,000, row 16, column 43), ``F50K10120387``
(1:500, 4+4 digits).

Rectangular sheets (矩形分幅) lie on a Gauss-Kruger grid (default EPSG:4548): 250 m,
500 m, 1 km and 2 km squares at 1:500, 1:1000, 1:2000 and 1:5000, named by the south-west
corner "x-y" in km, northing first (``2583.25-467.50`` at 1:500).

Exactness
---------
Every edge of every national sheet is an edge of the 1:500 grid: 1/384° of longitude by
1/576° of latitude (9.375" x 6.25"). A point is therefore reduced, exactly, to the two
integers of its 1:500 cell (column counted from 180°W, row counted from the equator) and
every code at every scale is derived from them by integer division. A point on an edge
belongs to the cell to its east / north, so a point on a corner belongs to the north-east
sheet.

How a coordinate becomes exact:

* ``int`` and ``Fraction`` are exact and taken as they are.
* Written or measured values (``float``, ``Decimal`` and strings, decimal degrees or
  D°M'S") are read exactly (a float as its binary value), then a value less than
  :data:`EDGE_TOLERANCE` (1e-9 degree, about 0.1 mm) below an edge counts as on the
  edge. Edges mostly have no finite decimal or binary form (23°20' is 23.333...), so
  the printed bounds of a sheet (``23.333333333333332``, 17 significant digits) and
  ``23 + 20 / 60`` lie on the edge and go north, as they would on paper.
* Vectorised path (:func:`sheet_codes`): floats with ``|x| >= 2`` are multiples of
  2**-52 degree, so numpy converts them to int64 exactly in that unit and computes cell
  indices with integer shifts (``(3 * (lon + 180) * 2**52) >> 45``), including the
  edge rule above, without rounding. Other values (``|x| < 2``, object arrays of
  Fractions or strings) fall back to the exact scalar path element by element.

Rectangular sheets have integer-metre edges, which floats hold exactly; the cell is
``floor(x / size)``, checked and corrected with exact float comparisons.

Example:
    >>> sheet_code(116.682, 23.354, "1:10000")
    'F50G016043'
    >>> sheet_bounds("F50")
    Bounds(west=114.0, south=20.0, east=120.0, north=24.0)
    >>> rect_sheet_code(467483.3555, 2583777.6078, 500)
    '2583.75-467.25'
"""

from geobase.sheets.angles import format_dms, parse_angle
from geobase.sheets.covering import require_gk_crs
from geobase.sheets.national import (
    parse_sheet_code,
    sheet_bounds,
    sheet_code,
    sheet_codes,
    sheet_polygon,
    sheets_covering,
)
from geobase.sheets.rectangular import (
    rect_sheet_bounds,
    rect_sheet_code,
    rect_sheet_codes,
    rect_sheet_polygon,
    rect_sheets_covering,
)
from geobase.sheets.scales import (
    EDGE_TOLERANCE,
    RECT_SCALES,
    SCALES,
    Bounds,
    RectScale,
    SheetCode,
    SheetScale,
    parse_scale,
    rect_scale,
)

__all__ = [
    "EDGE_TOLERANCE",
    "RECT_SCALES",
    "SCALES",
    "Bounds",
    "RectScale",
    "SheetCode",
    "SheetScale",
    "format_dms",
    "parse_angle",
    "parse_scale",
    "parse_sheet_code",
    "rect_scale",
    "rect_sheet_bounds",
    "rect_sheet_code",
    "rect_sheet_codes",
    "rect_sheet_polygon",
    "rect_sheets_covering",
    "require_gk_crs",
    "sheet_bounds",
    "sheet_code",
    "sheet_codes",
    "sheet_polygon",
    "sheets_covering",
]
