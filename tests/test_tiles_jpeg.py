"""JPEG GeoTIFF tiles decoded with libjpeg-turbo (geobase.tiles.jpegtiles) against GDAL's
own read, the reference."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from affine import Affine
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from geobase.errors import SourceReadError, TileSettingsError
from geobase.tiles.jpegtiles import decoder_mode, jpeg_tiles
from geobase.tiles.sources import packed_table


def path_bytes(path) -> bytes:
    with open(path, "rb") as fh:
        return fh.read()


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    diff = a.astype(np.float64) - b.astype(np.float64)
    return float(10 * np.log10(255.0**2 / max(np.mean(diff**2), 1e-10)))


def write(path, size=(650, 700), block=256, seed=1, **profile) -> str:
    """Imagery-like RGB (smooth scene, edges, pixel-scale texture) around Shantou."""
    h, w = size
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    planes = [
        120 + 60 * np.sin(xx / (7 + 3 * b)) * np.cos(yy / (11 + 2 * b))
        + 40 * ((xx // 37 + yy // 23) % 2) + rng.normal(0, 5, (h, w))
        for b in range(3)
    ]  # fmt: skip
    data = np.clip(np.rint(np.stack(planes)), 0, 255).astype(np.uint8)
    base = dict(driver="GTiff", width=w, height=h, count=3, dtype="uint8", crs="EPSG:4548",
                transform=Affine(0.05, 0, 467300, 0, -0.05, 2583300), tiled=True,
                blockxsize=block, blockysize=block, compress="JPEG", photometric="YCBCR",
                jpeg_quality=90)  # fmt: skip
    with rasterio.open(path, "w", **{**base, **profile}) as dst:
        dst.write(data)
    return str(path)


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(c0=st.integers(0, 690), r0=st.integers(0, 640), w=st.integers(1, 700), h=st.integers(1, 650))
def test_turbo_reads_what_gdal_reads(tmp_path_factory, c0, r0, w, h):
    """Any window, across tile edges and into the partial tiles of the right and bottom:
    the same pixels as GDAL's read up to the two decoders' chroma upsampling (45 dB at
    least, measured 50-56), never shifted (a one-pixel shift falls below 30 dB)."""
    path = tmp_path_factory.getbasetemp() / "ycbcr.tif"
    if not path.exists():
        write(path)
    c1, r1 = min(700, c0 + w), min(650, r0 + h)
    with rasterio.open(path) as src:
        tiles = jpeg_tiles(src)
        assert tiles is not None
        got = tiles.read((c0, r0, c1, r1))
        want = np.moveaxis(src.read(window=((r0, r1), (c0, c1))), 0, -1)
    assert got.shape == want.shape
    if got.size >= 3 * 64:
        assert psnr(got, want) >= 45.0


def test_a_shift_would_show(tmp_path):
    """The PSNR bound above tells a shifted read from a right one on this texture."""
    path = write(tmp_path / "ycbcr.tif")
    with rasterio.open(path) as src:
        got = jpeg_tiles(src).read((0, 0, 600, 600))
        want = np.moveaxis(src.read(window=((0, 600), (1, 601))), 0, -1)
    assert psnr(got, want) < 30.0


@pytest.mark.parametrize(
    "profile", [{"BIGTIFF": "YES"}, {"ENDIANNESS": "BIG"}, {"BIGTIFF": "YES", "ENDIANNESS": "BIG"}]
)
def test_bigtiff_and_big_endian_files(tmp_path, profile):
    """The TIFF directory is parsed for BigTIFF and big-endian files too; a big-endian
    BigTIFF, which Pillow's directory reader does not parse, is left to GDAL, and the
    packed table is GDAL's."""
    path = write(tmp_path / "other.tif", **profile)
    with rasterio.open(path) as src:
        tiles = jpeg_tiles(src)
        want = np.moveaxis(src.read(), 0, -1)
        if len(profile) == 2:
            assert tiles is None
            table = packed_table(src, [1, 2, 3], (0, 0, src.width, src.height), 1, "turbo")
            lanes = table.view(np.uint16).reshape(src.height + 2, src.width + 2, 4)
            assert np.array_equal(lanes[1:-1, 1:-1, :3], want)
            return
        assert tiles is not None
        got = tiles.read((0, 0, src.width, src.height))
    assert psnr(got, want) >= 45.0


def test_packed_table_with_either_decoder(tmp_path):
    """The warp's packed table from turbo is GDAL's up to the decoders' difference, the
    validity lane and the border the same; a masked file's mask still comes from GDAL."""
    path = write(tmp_path / "ycbcr.tif")
    masked = tmp_path / "masked.tif"
    with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True):
        write(masked)
        with rasterio.open(masked, "r+") as dst:
            mask = np.full((650, 700), 255, np.uint8)
            mask[:100, :300] = 0
            dst.write_mask(mask)
    for p in (path, masked):
        with rasterio.open(p) as src:
            window = (50, 60, 650, 610)
            turbo = packed_table(src, [1, 2, 3], window, 1, "turbo").view(np.uint16)
            gdal = packed_table(src, [1, 2, 3], window, 1, "gdal").view(np.uint16)
        turbo, gdal = turbo.reshape(552, 602, 4), gdal.reshape(552, 602, 4)
        assert np.array_equal(turbo[..., 3], gdal[..., 3])
        assert not turbo[0].any() and not turbo[:, -1].any()
        ok = gdal[..., 3] == 1
        assert psnr(turbo[..., :3][ok], gdal[..., :3][ok]) >= 45.0
    assert (gdal[1:-1, 1:-1, 3] == 0).sum() == 40 * 250  # the masked corner in the window


@pytest.mark.parametrize(
    "profile",
    [
        {"compress": "DEFLATE", "photometric": "RGB"},
        {"photometric": "RGB"},  # RGB JPEG: libjpeg would take it for YCbCr
        {"tiled": False, "blockxsize": None, "blockysize": None},
        {"interleave": "band", "photometric": "RGB"},
    ],
)
def test_other_files_go_through_gdal(tmp_path, profile):
    path = write(tmp_path / "other.tif", **{k: v for k, v in profile.items() if v is not None})
    if profile.get("tiled") is False:
        with rasterio.open(path) as src:
            assert src.block_shapes[0][1] == src.width  # strips
    with rasterio.open(path) as src:
        assert jpeg_tiles(src) is None


def test_a_damaged_tile_is_refused(real_data, tmp_path):
    """The real damaged JPEG GeoTIFF: one line naming the file and the tile, as GDAL's
    read fails on it too; a tile overwritten with zeros likewise."""
    with rasterio.open(real_data / "corrupt.tif") as src:
        tiles = jpeg_tiles(src)
        assert tiles is not None
        with pytest.raises(SourceReadError, match=r"corrupt\.tif: JPEG tile 3 cannot be decoded"):
            tiles.read((0, 0, src.width, src.height))
    path = write(tmp_path / "zeroed.tif")
    with rasterio.open(path) as src:
        tiles = jpeg_tiles(src)
    with open(path, "r+b") as fh:
        fh.seek(tiles.offsets[1])
        fh.write(bytes(tiles.counts[1]))
    with rasterio.open(path) as src:
        tiles = jpeg_tiles(src)  # a new file version: indexed again
        tiles.read((0, 0, 256, 256))  # tile 0 is intact
        with pytest.raises(SourceReadError, match="JPEG tile 1 cannot be decoded"):
            tiles.read((0, 0, 512, 256))


@pytest.mark.parametrize(
    ("side", "message"),
    [(10000, "is 10000 x 10000 RGB where the TIFF says 256 x 256"), (65000, "bomb")],
)
def test_a_tile_claiming_a_huge_size_is_refused_before_decoding(tmp_path, side, message):
    """A damaged SOF header (100 M or 4 G pixels) is refused in one line naming the tile,
    before Pillow decodes anything (a 100 M pixel tile would take 300 MB) or raises its
    decompression-bomb error past the build's error handling."""
    path = write(tmp_path / "huge.tif")
    with rasterio.open(path) as src:
        tiles = jpeg_tiles(src)
    with open(path, "r+b") as fh:
        fh.seek(tiles.offsets[0])
        data = fh.read(tiles.counts[0])
        sof = data.find(b"\xff\xc0")
        assert sof > 0
        fh.seek(tiles.offsets[0] + sof + 5)  # FFC0, length (2), precision (1): height, width
        fh.write(side.to_bytes(2, "big") * 2)
    with (
        rasterio.open(path) as src,
        pytest.raises(SourceReadError, match=f"huge.tif: JPEG tile 0 .*{message}"),
    ):
        jpeg_tiles(src).read((0, 0, 10, 10))


def test_an_adobe_rgb_tile_is_left_to_gdal(tmp_path):
    """A tile whose stream carries an Adobe marker calling it RGB (libjpeg would skip
    the YCbCr conversion that libtiff forces): the file is read by GDAL instead."""
    from geobase.tiles.jpegtiles import _NotPlain, read_window

    path = write(tmp_path / "adobe.tif")
    with rasterio.open(path) as src:
        tiles = jpeg_tiles(src)
    data = path_bytes(path)[tiles.offsets[0] : tiles.offsets[0] + tiles.counts[0]]
    stream = tiles.tables[:-2] + data[2:]
    adobe = b"\xff\xee\x00\x0eAdobe\x00\x64\x00\x00\x00\x00\x00"  # transform 0
    one = tmp_path / "one.jpg"
    one.write_bytes(stream[:2] + adobe + stream[2:])
    fake = type(tiles)(str(one), (0, 0), 256, 256, 256, 256, (0,), (one.stat().st_size,), b"")
    with pytest.raises(_NotPlain):
        fake.read((0, 0, 256, 256))

    class Src:  # what read_window needs of an open raster, pointing at the fake tile
        pass

    import geobase.tiles.jpegtiles as jt

    key = (str(one), *fake.version)
    jt._INDEX[key] = fake
    try:
        src = Src()
        monkey = jt.jpeg_tiles
        jt.jpeg_tiles = lambda s: fake
        assert read_window(src, (0, 0, 256, 256)) is None
    finally:
        jt.jpeg_tiles = monkey
        jt._INDEX.pop(key, None)


def test_the_switch(monkeypatch):
    monkeypatch.delenv("GEOBASE_JPEG_DECODER", raising=False)
    assert decoder_mode() == "turbo"
    monkeypatch.setenv("GEOBASE_JPEG_DECODER", "gdal")
    assert decoder_mode() == "gdal"
    assert decoder_mode("turbo") == "turbo"
    monkeypatch.setenv("GEOBASE_JPEG_DECODER", "pillow")
    with pytest.raises(TileSettingsError, match="GEOBASE_JPEG_DECODER='pillow'"):
        decoder_mode()


@settings(max_examples=25, deadline=None)
@given(
    bands=st.integers(1, 3),
    h=st.integers(1, 30),
    w=st.integers(1, 30),
    every=st.booleans(),
    layout=st.sampled_from(["bands", "pixels"]),
    seed=st.integers(0, 2**32 - 1),
)
def test_compiled_packing_is_numpy_lanes(bands, h, w, every, layout, seed):
    """The packed table's compiled packing (GDAL's band-sequential read or turbo's
    pixel-interleaved tiles) holds each band in its 16-bit lane, the validity in lane 3,
    zero where invalid and on the border."""
    from geobase.tiles.kernels import pack_pixels

    rng = np.random.default_rng(seed)
    pix = rng.integers(0, 256, (bands, h, w), dtype=np.uint8)
    valid = rng.random((h, w)) < 0.7
    arg = (
        pix
        if layout == "bands"
        else np.ascontiguousarray(pix.transpose(1, 2, 0)).transpose(2, 0, 1)
    )
    got = np.zeros((h + 2, w + 2), np.int64)
    pack_pixels(arg, valid, every, got)
    want = np.zeros((h + 2, w + 2, 4), np.uint16)
    want[1:-1, 1:-1, :bands] = np.moveaxis(pix, 0, -1)
    want[1:-1, 1:-1, 3] = 1
    if not every:
        want[1:-1, 1:-1][~valid] = 0
    assert np.array_equal(got.view(np.uint16).reshape(h + 2, w + 2, 4), want)
