"""The CJK font set-up every chart uses: found as a file and registered explicitly."""

from __future__ import annotations

from pathlib import Path

import matplotlib as mpl
import pytest
from matplotlib import font_manager

from geobase import fonts
from geobase.errors import FontNotFound


def test_the_installed_cjk_font_is_found_as_a_file():
    try:
        path = fonts.find_cjk_font()
    except FontNotFound:
        pytest.fail("no CJK font installed: run scripts/install-system-deps.sh (fonts-wqy-zenhei)")
    assert path.suffix in (".ttc", ".ttf") and path.is_file()
    assert fonts.find_cjk_font(path) == path


def test_a_configured_font_that_is_missing_is_refused(tmp_path):
    with pytest.raises(FontNotFound, match="no such file"):
        fonts.find_cjk_font(tmp_path / "nope.ttc")


def test_without_a_cjk_font_anywhere_the_error_says_what_to_install(monkeypatch):
    monkeypatch.setattr(fonts, "FONT_CANDIDATES", ())
    monkeypatch.setattr(fonts, "_fontconfig", lambda: None)
    monkeypatch.setattr(fonts, "_scan_font_folders", lambda: None)
    with pytest.raises(FontNotFound, match="fonts-wqy-zenhei"):
        fonts.find_cjk_font()
    assert fonts.cjk_family() is None  # charts then label in English only


def test_fontconfig_and_the_folder_scan_find_the_same_font():
    installed = fonts.find_cjk_font()
    assert fonts._fontconfig() is not None
    assert fonts._scan_font_folders() == installed  # wqy-zenhei by its file name


def test_use_cjk_font_makes_it_matplotlibs_default():
    with mpl.rc_context():
        family = fonts.use_cjk_font()
        assert mpl.rcParams["font.sans-serif"][0] == family
        found = font_manager.findfont(
            font_manager.FontProperties(family=["sans-serif"]), fallback_to_default=False
        )
        assert Path(found) == fonts.find_cjk_font()
