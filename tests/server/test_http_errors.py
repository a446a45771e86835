"""Every error answer is JSON, including the ones aiohttp's router makes, through the real
server: an unknown path is 404 `not_found` whatever the method (also where the built web
app is served, which still serves `/` and its files), a known path asked with another
method is 405 `method_not_allowed` with `Allow`, and a 429 says when to retry in whole
seconds, in `Retry-After` and in its message."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from yarl import URL

from tests.conftest import MakeServer, MakeTenant, Running, db_fetch

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")

UNKNOWN = (
    "/nope",
    "/nope.json?x=1",
    "/api/v1/nope",
    "/api/v1/partners/extra/deeper",
    "/sync/extra",
    "/assets",  # a directory of the web app, not a file
    "/assets/",
    "/assets/missing.js",
    "/index.html/more",
)

INDEX = b"<!doctype html><title>Recap</title>"


@dataclass
class Answer:
    status: int
    headers: Any
    raw: bytes

    @property
    def body(self) -> Any:
        assert self.headers.get("Content-Type", "").startswith("application/json"), self.raw
        return orjson.loads(self.raw)


async def ask(
    http: aiohttp.ClientSession,
    method: str,
    url: str | URL,
    token: str | None = None,
    body: Any = None,
) -> Answer:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    data = orjson.dumps(body) if body is not None else None
    async with http.request(method, url, data=data, headers=headers) as resp:
        return Answer(resp.status, resp.headers, await resp.read())


@pytest.fixture
def dist(tmp_path: Path) -> Path:
    """A built web app's shape: index.html, a top-level file, an assets folder; and a file
    next to the folder that must not be reachable through it."""
    root = tmp_path / "dist"
    (root / "assets").mkdir(parents=True)
    (root / "index.html").write_bytes(INDEX)
    (root / "sw.js").write_text("self.addEventListener('fetch', () => {});")
    (root / "assets" / "app-1234.js").write_text("console.log('app');")
    (tmp_path / "secret.txt").write_text("not for the web")
    return root


@pytest.fixture(params=["api only", "with the web app"])
async def any_server(
    request: pytest.FixtureRequest, make_server: MakeServer, dist: Path
) -> Running:
    """The server as tests run it (no web app) and as deployed (serving the built app)."""
    static = dist if request.param == "with the web app" else None
    return await make_server(static_dir=static)


def assert_not_found(answer: Answer, method: str, path: str) -> None:
    assert answer.status == 404, (method, path, answer.status, answer.raw)
    body = answer.body
    assert body["code"] == "not_found"
    assert body["message"] == f"nothing is served at {path.split('?')[0]}"


# -- 404 ---------------------------------------------------------------------------------------
async def test_an_unknown_path_is_a_json_404_for_every_method(
    any_server: Running, http: aiohttp.ClientSession
) -> None:
    for path in UNKNOWN:
        for method in METHODS:
            assert_not_found(await ask(http, method, any_server.url + path), method, path)
    # With a token and a body too: nothing is authenticated or read for a path nobody serves.
    answer = await ask(http, "POST", any_server.url + "/api/v1/nope", "not-a-token", {"a": 1})
    assert_not_found(answer, "POST", "/api/v1/nope")
    # HEAD has no body, but the status is the same.
    answer = await ask(http, "HEAD", any_server.url + "/nope")
    assert answer.status == 404 and answer.raw == b""


async def test_a_path_out_of_the_web_app_folder_is_a_json_404(
    make_server: MakeServer, http: aiohttp.ClientSession, dist: Path
) -> None:
    """An encoded `..` cannot reach the file next to the folder."""
    server = await make_server(static_dir=dist)
    for path in ("/%2e%2e/secret.txt", "/assets/%2e%2e/%2e%2e/secret.txt", "/..%2fsecret.txt"):
        answer = await ask(http, "GET", URL(server.url + path, encoded=True))
        assert answer.status == 404, (path, answer.raw)
        assert answer.body["code"] == "not_found"
        assert b"not for the web" not in answer.raw


async def test_the_web_app_is_still_served_beside_the_json_errors(
    make_server: MakeServer, http: aiohttp.ClientSession, dist: Path
) -> None:
    """`/` (every navigation into the app: it routes by the fragment) is index.html, and
    the app's files are served as files; the API is unchanged beside them."""
    server = await make_server(static_dir=dist)
    for path in ("/", "/index.html", "/?from=email"):
        page = await ask(http, "GET", server.url + path)
        assert page.status == 200 and page.raw == INDEX, path
        assert page.headers["Content-Type"].startswith("text/html")
    head = await ask(http, "HEAD", server.url + "/")
    assert head.status == 200 and head.raw == b""
    script = await ask(http, "GET", server.url + "/assets/app-1234.js")
    assert script.status == 200 and script.raw == b"console.log('app');"
    assert "javascript" in script.headers["Content-Type"]
    worker = await ask(http, "GET", server.url + "/sw.js")
    assert worker.status == 200 and b"addEventListener" in worker.raw
    # A file added after the start (a rebuilt app) is served without a restart.
    (dist / "assets" / "app-5678.js").write_text("console.log('new');")
    fresh = await ask(http, "GET", server.url + "/assets/app-5678.js")
    assert fresh.status == 200 and fresh.raw == b"console.log('new');"
    health = await ask(http, "GET", server.url + "/healthz")
    assert health.status == 200


# -- 405 ---------------------------------------------------------------------------------------
def allow_of(answer: Answer) -> set[str]:
    return {m.strip() for m in answer.headers["Allow"].split(",")}


async def test_a_wrong_method_on_a_known_path_is_a_json_405_with_allow(
    any_server: Running, http: aiohttp.ClientSession
) -> None:
    for method, path, allowed in [
        ("GET", "/sync", {"POST"}),
        ("PUT", "/sync", {"POST"}),
        ("DELETE", "/auth/login", {"POST"}),
        ("PATCH", "/api/v1/partners", {"GET", "POST"}),
        ("PUT", "/api/v1/partners", {"GET", "POST"}),
    ]:
        answer = await ask(http, method, any_server.url + path)
        assert answer.status == 405, (method, path, answer.raw)
        assert allow_of(answer) - {"HEAD"} == allowed
        assert answer.body["code"] == "method_not_allowed"
        message = answer.body["message"]
        assert message.startswith(f"{method} is not allowed on {path}; allowed: ")
        assert set(message.rsplit(": ", 1)[1].split(", ")) == allow_of(answer)


async def test_a_wrong_method_on_a_file_of_the_web_app_is_a_json_405(
    make_server: MakeServer, http: aiohttp.ClientSession, dist: Path
) -> None:
    server = await make_server(static_dir=dist)
    for path in ("/", "/index.html", "/assets/app-1234.js"):
        answer = await ask(http, "POST", server.url + path)
        assert answer.status == 405, (path, answer.raw)
        assert allow_of(answer) == {"GET", "HEAD"}
        assert answer.body["code"] == "method_not_allowed"


# -- 429 ---------------------------------------------------------------------------------------
def assert_rate_limited(answer: Answer, reason: str) -> int:
    """The whole seconds to wait, checked to agree between the header, the message and
    the exact `retry_after_s`."""
    assert answer.status == 429, answer.raw
    body = answer.body
    assert body["code"] == "rate_limited"
    header = answer.headers["Retry-After"]
    assert re.fullmatch(r"[1-9][0-9]*", header), header
    seconds = int(header)
    assert body["message"] == f"{reason}; retry in {seconds} s"
    assert seconds == max(1, math.ceil(body["retry_after_s"]))
    return seconds


async def test_over_its_rate_a_user_is_told_to_retry_in_whole_seconds_rounded_up(
    make_server: MakeServer, http: aiohttp.ClientSession, make_tenant: MakeTenant
) -> None:
    token = (await make_tenant()).token("alice")
    # 0.4 tokens a second: the second request waits ~2.5 s, said as 3.
    slow = await make_server(rate_per_s=0.4, rate_burst=1)
    assert (await ask(http, "GET", slow.url + "/auth/me", token)).status == 200
    refused = await ask(http, "GET", slow.url + "/auth/me", token)
    assert assert_rate_limited(refused, "too many requests") == 3
    assert 2 < refused.body["retry_after_s"] <= 2.5
    # 2 tokens a second: a wait under a second is said as 1, never 0. (A request that came
    # late enough to be served again took the token back: the next one is refused.)
    fast = await make_server(rate_per_s=2, rate_burst=1)
    answers = [await ask(http, "GET", fast.url + "/auth/me", token) for _ in range(6)]
    refused_fast = [a for a in answers if a.status == 429]
    assert refused_fast and {a.status for a in answers} == {200, 429}
    for answer in refused_fast:
        assert assert_rate_limited(answer, "too many requests") == 1
        assert 0 < answer.body["retry_after_s"] <= 0.5


async def test_throttled_sign_ins_are_told_to_retry_in_whole_seconds(
    server: Running, http: aiohttp.ClientSession, make_tenant: MakeTenant
) -> None:
    tenant = await make_tenant()
    rows = await db_fetch(
        server.db_url, "SELECT email FROM users WHERE id = $1::uuid", tenant.user_id("alice")
    )
    login = {"email": rows[0]["email"], "password": "wrong"}
    for _ in range(10):
        assert (await ask(http, "POST", server.url + "/auth/login", body=login)).status == 401
    refused = await ask(http, "POST", server.url + "/auth/login", body=login)
    seconds = assert_rate_limited(refused, "too many failed sign-ins")
    assert 14 * 60 < seconds <= 15 * 60
