"""The tile fast path against its reference, the full route, on generated requests.

Two applications serve the same workspace: one with the fast path (the default) and one
with ``tile_fast_path = false`` (every request through routing, dependencies, the CORS
middleware and the error handlers). Every generated request must get the same status,
headers and body from both, whether the fast path answered it or declined it.
"""

from __future__ import annotations

import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.server_support import PYRAMIDS, make_workspace, running


@pytest.fixture(scope="module")
def apps(tmp_path_factory):
    from geobase.server import ServerSettings, create_app
    from geobase.server.http import etag_for
    from geobase.tiles.stores import open_pyramid

    info = make_workspace(tmp_path_factory.mktemp("fastpath") / "ws")
    root = info["ws_root"]
    fast = create_app(ServerSettings.for_workspace(root))
    full = create_app(ServerSettings.for_workspace(root, tile_fast_path=False))
    assert fast.fast_path is not None and full.fast_path is None
    answered: list[bool] = []
    inner = fast.fast_path

    async def counting(scope, send):
        done = await inner(scope, send)
        if scope["type"] == "http":
            answered.append(done)
        return done

    fast.fast_path = counting
    tiles, etags = {}, {}
    for name, (path, *_rest) in PYRAMIDS.items():
        with open_pyramid(root / path) as reader:
            tiles[name] = sorted(reader.tiles())
            for z, x, y in tiles[name]:
                etags[name, z, x, y] = etag_for(reader.get_tile(z, x, y))
    with (
        running(fast) as fast_base,
        running(full) as full_base,
        httpx.Client(base_url=fast_base, timeout=20) as fast_client,
        httpx.Client(base_url=full_base, timeout=20) as full_client,
    ):
        yield {
            **info,
            "fast": fast_client,
            "full": full_client,
            "answered": answered,
            "tiles": tiles,
            "etags": etags,
        }


# weighted towards what the fast path may answer (a public tile, no token, no Origin)
EXTENSIONS = ("png",) * 6 + ("jpg", "jpeg", "webp", "gif", "PNG", None)
TOKENS = (None,) * 6 + ("internal", "restricted", "revoked", "wrong", "malformed")


@st.composite
def tile_requests(draw, tiles: dict) -> dict:
    name = draw(st.sampled_from([*PYRAMIDS, "merc", "merc", "merc", "nosuch", "bad$name"]))
    known = tiles.get(name) or tiles["merc"]
    z, x, y = draw(st.sampled_from(known))
    kind = draw(st.sampled_from(["tile", "tile", "tile", "near", "huge"]))
    if kind == "near":  # beyond the built tiles, the zooms or the matrix
        z += draw(st.integers(-2, 2))
        x += draw(st.integers(-3, 3))
        y += draw(st.integers(-3, 3))
    elif kind == "huge":
        y = draw(st.sampled_from([2**31, 10**10 - 1, 10**10]))
    if min(z, x, y) < 0:
        z, x, y = abs(z), abs(x), abs(y)
    ext = draw(st.sampled_from(EXTENSIONS))
    return {
        "name": name,
        "z": z,
        "x": x,
        "y": y,
        "ext": ext,
        "method": draw(st.sampled_from(["GET", "GET", "HEAD"])),
        "token": draw(st.sampled_from(TOKENS)),
        "token_in_query": draw(st.booleans()),
        "origin": draw(st.sampled_from([None, None, None, "https://maps.example.org"])),
        "if_none_match": draw(st.sampled_from([None, None, "right", '"nope"', "*"])),
        "extra_query": draw(st.sampled_from(["", "", "", "v=1"])),
    }


def _send(client: httpx.Client, req: dict, served: dict):
    path = f"/tiles/{req['name']}/{req['z']}/{req['x']}/{req['y']}"
    if req["ext"] is not None:
        path += f".{req['ext']}"
    headers = {}
    query = [req["extra_query"]] if req["extra_query"] else []
    token = req["token"]
    if token is not None:
        secret = {"wrong": "gb_" + "x" * 40, "malformed": "not a token"}.get(
            token, served["tokens"].get(token)
        )
        if req["token_in_query"]:
            query.append(f"token={secret}")
        else:
            headers["Authorization"] = f"Bearer {secret}"
    if req["origin"]:
        headers["Origin"] = req["origin"]
    if req["if_none_match"] == "right":
        key = (req["name"], req["z"], req["x"], req["y"])
        headers["If-None-Match"] = served["etags"].get(key, '"unknown"')
    elif req["if_none_match"]:
        headers["If-None-Match"] = req["if_none_match"]
    if query:
        path += "?" + "&".join(query)
    return client.request(req["method"], path, headers=headers)


def _answer(response) -> tuple:
    # problem documents name an incident id only for 500s, which must not occur here
    assert response.status_code < 500, response.text
    headers = sorted(
        (k.lower(), v) for k, v in response.headers.items() if k.lower() not in ("date", "server")
    )
    return response.status_code, headers, response.content


def test_fast_path_and_full_route_agree_on_generated_requests(apps):
    """Each request goes to the reference first, then twice to the fast application (the
    first fills its tile cache through the full route, the second may take the fast path)."""

    @settings(
        max_examples=150,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    def public(**changes) -> dict:
        z, x, y = apps["tiles"]["merc"][0]
        req = {"name": "merc", "z": z, "x": x, "y": y, "ext": "png", "method": "GET"}
        req |= {"token": None, "token_in_query": False, "origin": None}
        return req | {"if_none_match": None, "extra_query": ""} | changes

    # requests the fast path must answer itself, whatever the generator draws
    @example(req=public())
    @example(req=public(method="HEAD"))
    @example(req=public(if_none_match="right"))
    @given(req=tile_requests(apps["tiles"]))
    def agree(req):
        reference = _answer(_send(apps["full"], req, apps))
        for _ in range(2):
            assert _answer(_send(apps["fast"], req, apps)) == reference, req

    agree()
    answered = apps["answered"]
    # the comparison is not vacuous: the fast path answered a fair share by itself
    assert sum(answered) >= 3, f"the fast path answered {sum(answered)} of {len(answered)}"
    assert not all(answered)


def test_the_switch_sends_everything_through_the_full_route(apps):
    """With ``tile_fast_path = false`` a cached public tile is still answered, by the
    route; with the default it is answered by the fast path."""
    z, x, y = apps["tiles"]["merc"][-1]
    url = f"/tiles/merc/{z}/{x}/{y}.png"
    assert apps["full"].get(url).status_code == 200
    assert apps["full"].get(url).status_code == 200  # cached now, still the route's answer
    answered = apps["answered"]
    before = len(answered)
    apps["fast"].get(url)
    apps["fast"].get(url)
    assert answered[before:] == [False, True] or answered[before:] == [True, True]
    assert answered[-1] is True
