"""Honest and hostile devices, pushing and syncing in an order hypothesis chooses, against a
real server process. After every step: no honest sync failed (a failure fails the step) and
every edit the server acknowledged is still on the server. At the end, every honest replica
and a new one converge to the server's root with every acknowledged edit."""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import orjson
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from crdt.hlc import send
from crdt.timestamp import Timestamp
from seed import create_tenant
from sync_server.services.accounts import open_session
from sync_server.settings import PROJECT_ROOT
from tests.conftest import TEST_SECRET, Tenant
from tests.hostile.arena import Arena, forged, new_row

VECTORS = orjson.loads(
    (Path(__file__).resolve().parents[1] / "vectors" / "timestamps.json").read_bytes()
)
NOT_MESSAGE_STAMPS = [c["text"] for c in VECTORS["cases"] if not c["message"]]
MINUTE = 60_000
#: Rows the devices edit, few enough that they meet on the same fields.
ROWS = [new_row() for _ in range(6)]
COLUMNS = ["quantity", "weight", "tombstone"]


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def server_url(db_url: str, tmp_path: Path) -> Iterator[str]:
    """A real server process on the test database."""
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": db_url,
        "RECAP_TOKEN_SECRET": TEST_SECRET,
        "RECAP_DATA_DIR": str(tmp_path),
        "RECAP_LOG_REQUESTS": "false",
        "RECAP_RATE_PER_S": "100000",
        "RECAP_RATE_BURST": "100000",
    }
    log = open(tmp_path / "server.log", "wb")  # noqa: SIM115  (closed below)
    proc = subprocess.Popen(
        [sys.executable, "-m", "sync_server", "run", "--port", str(port)],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=1) as resp:
                if resp.status == 200:
                    break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError((tmp_path / "server.log").read_text()[-2000:]) from None
            time.sleep(0.05)
    try:
        yield url
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        log.close()


class Devices(RuleBasedStateMachine):
    """One tenant per run: honest reps Alice and Bob (devices come and go), a hostile rep
    Mallory with one device of her own, and an admin who writes over REST."""

    url = ""
    db_url = ""

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.arena = self.run(self.setup())
        self.mallory = forged()
        self.mallory_stamps: list[str] = []

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    async def setup(self) -> Arena:
        conn = await asyncpg.connect(self.db_url)
        suffix = secrets.token_hex(4)
        spec = [
            (f"{u}-{suffix}@example.com", u.title(), "pw", "rep")
            for u in ("alice", "bob", "mallory")
        ]
        spec.append((f"carla-{suffix}@example.com", "Carla", "pw", "admin"))
        tenant_id, users = await create_tenant(conn, "Acme", spec)
        tokens = {
            u.email.split("-")[0]: (
                u.id,
                await open_session(conn, TEST_SECRET, u.id, tenant_id, 3600),
            )
            for u in users
        }
        await conn.close()
        http = aiohttp.ClientSession()
        arena = Arena(self.url, http, Tenant(tenant_id, tokens), self.db_url)
        arena.join("alice-1", "alice")
        arena.join("bob-1", "bob")
        return arena

    def teardown(self) -> None:
        try:
            self.run(self.arena.converged())
        finally:
            self.run(self.arena.http.close())
            self.loop.close()

    # -- honest devices -------------------------------------------------------------------
    @rule(data=st.data(), value=st.integers(0, 1000))
    def honest_edit(self, data: st.DataObject, value: int) -> None:
        device = data.draw(st.sampled_from(sorted(self.arena.honest)))
        row, column = data.draw(st.sampled_from(ROWS)), data.draw(st.sampled_from(COLUMNS))
        self.arena.honest[device].replica.edit_field(
            "pre_order_flows", row, column, value % 2 if column == "tombstone" else value
        )

    @rule(data=st.data())
    def honest_sync(self, data: st.DataObject) -> None:
        device = data.draw(st.sampled_from(sorted(self.arena.honest)))
        self.run(self.arena.sync(self.arena.honest[device]))

    @precondition(lambda self: len(self.arena.honest) < 5)
    @rule(user=st.sampled_from(["alice", "bob"]))
    def new_device(self, user: str) -> None:
        name = f"{user}-{len(self.arena.honest) + 1}"
        self.run(self.arena.sync(self.arena.join(name, user)))

    @rule()
    def rest_write(self) -> None:
        async def create() -> None:
            headers = {"Authorization": f"Bearer {self.arena.tenant.token('carla')}"}
            async with self.arena.http.post(
                self.url + "/api/v1/partners", json={"name": "Over REST"}, headers=headers
            ) as resp:
                assert resp.status == 201

        self.run(create())

    # -- the hostile device ---------------------------------------------------------------
    def push(self, node: str, messages: list[dict[str, Any]]) -> tuple[int, Any]:
        result: tuple[int, Any] = self.run(self.arena.push("mallory", node, messages))
        return result

    def mine(self, value: Any, timestamp: str, column: str = "quantity") -> dict[str, Any]:
        return {"dataset": "pre_order_flows", "row": ROWS[0], "column": column, "value": value,
                "timestamp": timestamp}  # fmt: skip

    def now(self) -> int:
        status, body = self.run(self.arena.post("mallory", {"node": self.mallory.node}))
        assert status == 200
        return int(body["server_time"])

    @rule(ahead=st.integers(0, 4 * MINUTE + 30_000), counter=st.sampled_from([0xFFFF, 0xFFFE, 0]))
    def poisoned_counter(self, ahead: int, counter: int) -> None:
        stamp = str(Timestamp(self.now() + ahead, counter, self.mallory.node))
        status, body = self.push(self.mallory.node, [self.mine(13, stamp)])
        if status == 409:  # the stamp names one of her earlier edits: refused, never dropped
            assert body["code"] == "timestamp_reused", body
            return
        assert status == 200, body
        self.mallory_stamps.append(stamp)

    @rule(text=st.sampled_from(NOT_MESSAGE_STAMPS))
    def non_canonical(self, text: Any) -> None:
        status, body = self.push(self.mallory.node, [self.mine(1, text)])
        assert status == 422 and body["code"] == "invalid", body

    @rule(data=st.data())
    def forged_node(self, data: st.DataObject) -> None:
        """Under a device's node id, as known from its messages on the server (an id is
        public once its device has pushed; before that it is a random secret, and the
        device's first sync claims it)."""
        known = sorted(n for n, c in self.arena.honest.items() if c.replica.node in self.nodes())
        if not known:
            return
        device = self.arena.honest[data.draw(st.sampled_from(known))]
        replica = device.replica
        _, next_stamp = send(replica.clock, replica.now_ms())
        for node in (self.mallory.node, replica.node):
            status, body = self.push(node, [self.mine(666, str(next_stamp))])
            assert status == 403 and body["code"] == "foreign_node", body

    @precondition(lambda self: bool(self.mallory_stamps))
    @rule(data=st.data())
    def reused_stamp(self, data: st.DataObject) -> None:
        stamp = data.draw(st.sampled_from(self.mallory_stamps))
        status, body = self.push(self.mallory.node, [self.mine(999_999, stamp, "weight")])
        assert status == 409 and body["code"] == "timestamp_reused", body

    @rule(value=st.sampled_from(["2026-13-45T99:99:99Z", "1999-01-01T00:00:00Z"]))
    def invalid_value(self, value: str) -> None:
        stamp = str(Timestamp(self.now(), 0, self.mallory.node))
        bad = {
            **self.mine(0, stamp),
            "dataset": "pre_orders",
            "column": "created_at",
            "value": value,
        }
        status, body = self.push(self.mallory.node, [bad])
        assert status == 422, body

    @rule(value=st.integers(0, 9))
    def hostile_overwrite(self, value: int) -> None:
        """A valid edit of a row the honest reps edit: allowed, merged by LWW."""
        edit = self.mallory.edit_field(
            "pre_order_flows", ROWS[value % len(ROWS)], "quantity", value
        )
        status, body = self.push(self.mallory.node, [edit.to_json()])
        assert status == 200, body
        self.mallory_stamps.append(edit.timestamp)

    def nodes(self) -> set[str]:
        """The node ids that appear on the server."""
        return {t[-16:] for t in self.run(self.arena.stored())}

    # -- what must hold after every step ---------------------------------------------------
    @invariant()
    def acknowledged_edits_are_kept(self) -> None:
        stored = self.run(self.arena.stored())
        assert self.arena.acked <= set(stored)


def test_honest_devices_are_never_stopped_and_nothing_acknowledged_is_lost(
    server_url: str, db_url: str
) -> None:
    Devices.url, Devices.db_url = server_url, db_url
    Devices.TestCase.settings = settings(
        max_examples=int(os.environ.get("RECAP_HOSTILE_EXAMPLES", "12")),
        stateful_step_count=25,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    Devices.TestCase().runTest()
