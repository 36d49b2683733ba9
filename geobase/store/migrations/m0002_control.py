"""The control-point registry and its inspection history.

``control_points`` holds the current values of every mark (one row per permanent id, a
point in CGCS2000 geographic coordinates so that QGIS shows the registry).
``control_point_history`` keeps the coordinates a re-import replaced (append-only).
``control_inspections`` and ``control_evidence`` are the append-only inspection history;
the current condition of a mark is derived from its latest inspection.
"""

from geobase.store.base import Transaction

COORDINATE_COLUMNS = [
    "lon REAL NOT NULL",  # L, degrees (CGCS2000)
    "lat REAL NOT NULL",  # B, degrees
    "ellh REAL",  # ellipsoidal height, m
    "geo_source TEXT NOT NULL",  # adjusted | converted | scaled
    "geo_epoch REAL",  # decimal year
    "x_north REAL NOT NULL",  # Gauss-Kruger x (northing), m
    "y_east REAL NOT NULL",  # Gauss-Kruger y (easting), m, as in gk_epsg
    "gk_epsg INTEGER NOT NULL",
    "grid_source TEXT NOT NULL",
    "grid_epoch REAL",
    "normal_h REAL",  # 1985 national height datum, m
    "height_source TEXT",
    "height_epoch REAL",
]


def upgrade(tx: Transaction) -> None:
    tx.create_feature_table(
        "control_points",
        [
            "point_id TEXT NOT NULL UNIQUE",
            "name TEXT NOT NULL",
            "kind TEXT NOT NULL",  # cors | gnss | levelling | city
            "cors INTEGER NOT NULL DEFAULT 0",
            "gnss_grade TEXT",  # A..E
            "level_grade TEXT",  # L1..L4
            "cjj_grade TEXT",  # CJJ-2, CJJ-3, CJJ-4, CJJ-I, CJJ-II
            "district TEXT",
            *COORDINATE_COLUMNS,
            "mark_type TEXT",  # monument | pillar | rooftop | bolt
            "established DATE",
            "custodian TEXT",
            "site TEXT",
            "route TEXT",
            "notes TEXT",
            "sheet_10k TEXT",  # GB/T 13989 1:10,000
            "sheet_500 TEXT",  # rectangular 1:500 on the Gauss-Kruger grid
            "replaces TEXT",  # the moved mark this one replaces
            "replaced_by TEXT",
            "retired_on DATE",
            "version INTEGER NOT NULL DEFAULT 1",
            "source_file TEXT",
            "created_at DATETIME NOT NULL",
            "updated_at DATETIME NOT NULL",
        ],
        "POINT",
        4490,
        description="control points (控制点) / control-point registry",
    )
    tx.create_index("control_points", ["kind"])
    tx.create_index("control_points", ["gnss_grade"])
    tx.create_index("control_points", ["level_grade"])
    tx.create_index("control_points", ["cjj_grade"])
    tx.create_index("control_points", ["district"])
    tx.create_attribute_table(
        "control_point_history",
        [
            "point_id TEXT NOT NULL",
            "version INTEGER NOT NULL",
            *COORDINATE_COLUMNS,
            "source_file TEXT",
            "valid_from DATETIME NOT NULL",
            "superseded_at DATETIME NOT NULL",
            "UNIQUE (point_id, version)",
        ],
        description="control-point coordinates replaced by a later import",
    )
    tx.create_attribute_table(
        "control_inspections",
        [
            "point_id TEXT NOT NULL",
            "inspected_on DATE NOT NULL",
            "inspector TEXT NOT NULL",
            "condition TEXT NOT NULL",  # intact | damaged | destroyed | not_found | moved
            "usability TEXT NOT NULL",  # gnss | levelling | both | none
            "notes TEXT",
            "new_point_id TEXT",  # for condition = moved
            "recorded_at DATETIME NOT NULL",
        ],
        description="survey-mark inspections (测量标志巡查), append-only",
    )
    tx.create_index("control_inspections", ["point_id", "inspected_on"])
    tx.create_attribute_table(
        "control_evidence",
        [
            "inspection_fid INTEGER NOT NULL",
            "path TEXT NOT NULL",  # relative to the workspace
            "original_name TEXT NOT NULL",
            "sha256 TEXT NOT NULL",
            "size INTEGER NOT NULL",
        ],
        description="evidence files (photos) of inspections",
    )
    tx.create_index("control_evidence", ["inspection_fid"])
    # append-only: the database itself refuses to change or drop history rows (the
    # PostGIS store turns this trigger form into a PL/pgSQL trigger)
    for table in ("control_inspections", "control_evidence", "control_point_history"):
        for op in ("UPDATE", "DELETE"):
            tx.execute(
                f"CREATE TRIGGER IF NOT EXISTS {table}_no_{op.lower()} BEFORE {op} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
            )
