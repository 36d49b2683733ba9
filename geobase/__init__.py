"""geobase: basic-surveying data for a city surveying bureau.

CGCS2000 control network, map coverage and currency, ingestion of imagery, terrain and
point clouds, and publishing of map tiles.
"""

__version__ = "0.1.0"
