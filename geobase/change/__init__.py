"""Change discovery between two epochs (变化发现): change polygons and sheet priorities.

``detect_changes`` turns two epochs (imagery, elevation, or both) into change polygons
(``changes``) and the sheets of a scale ranked by their changed area (``sheets``):

- :mod:`~geobase.change.epochs`: what BEFORE / AFTER name (files, dataset ids,
  ``PRODUCT@DATE``) and the common grid over the area both cover;
- :mod:`~geobase.change.register`: the residual shift between epochs (phase correlation);
- :mod:`~geobase.change.radiometry`: IR-MAD (Nielsen 2007) no-change pixels, relative
  normalisation on them and the per-pixel chi-square score;
- :mod:`~geobase.change.elevation`: the vertical offset and the precision of height
  differences;
- :mod:`~geobase.change.windows`: the per-window work (read, score, clean, polygonise),
  run on a process pool;
- :mod:`~geobase.change.detect`: the whole run; :mod:`~geobase.change.sheets`: the sheet
  priorities; :mod:`~geobase.change.output`: GeoPackage, JSON and the HTML summary.
"""

from geobase.change.detect import ChangeResult, detect_changes

__all__ = ["ChangeResult", "detect_changes"]
