"""`python -m sync_server diff A B` (issue 21): a device export, a trie file or a server on
either side; the divergent ranges and the exact messages each side lacks, in human terms;
`--json`, `--html`; exit 0 in sync, 1 not, 2 on a usage or connection error. Against real
servers (two deployments, two databases, for the backup-against-production case)."""

from __future__ import annotations

import asyncio
import gzip
import os
import secrets
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import orjson
import pytest
from aiohttp.test_utils import TestServer

from crdt.timestamp import iso_millis, millis_of
from recap_client import ClientReplica, SyncClient, export_device
from sync_server.__main__ import main
from sync_server.app import create_app
from tests.conftest import MakeTenant, Running, Tenant, settings_for, with_database
from tests.server.test_diagnostics import make_order, without

ROOT = Path(__file__).resolve().parents[2]
LINE = 'set quantity = 12 on "Acme Foods" 2026-12-02 order (line: Tomatoes)'


async def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """The CLI in this process (`main` runs its own event loop, so in a thread)."""
    capsys.readouterr()
    code = await asyncio.to_thread(main, ["diff", *args])
    out, err = capsys.readouterr()
    return code, out, err


def export(client: SyncClient, tenant: Tenant, name: str, path: Path) -> dict[str, Any]:
    return export_device(
        client.replica,
        server=client.base_url,
        user={"id": tenant.user_id(name), "name": name.title(), "role": "rep"},
        tenant_id=tenant.id,
        path=path,
    )


def drop(document: dict[str, Any], *timestamps: str) -> dict[str, Any]:
    """The export with these messages removed behind the device's back: from its log, its
    registers and its trie."""
    out = dict(document)
    out["messages"] = [m for m in document["messages"] if m["timestamp"] not in timestamps]
    out["registers"] = [m for m in document["registers"] if m["timestamp"] not in timestamps]
    return out


def write(path: Path, document: dict[str, Any]) -> Path:
    path.write_bytes(gzip.compress(orjson.dumps(document)))
    return path


def minute_of(timestamp: str) -> str:
    return iso_millis(millis_of(timestamp))[:16]


@dataclass
class Cli:
    """What a test of the CLI works with: the server, a session on it, tenants, a scratch
    directory, and the CLI run in this process with its output captured."""

    server: Running
    http: aiohttp.ClientSession
    make_tenant: MakeTenant
    tmp_path: Path
    capsys: pytest.CaptureFixture[str]

    async def run(self, *args: str) -> tuple[int, str, str]:
        return await run(self.capsys, *args)

    def client(self, tenant: Tenant, name: str) -> SyncClient:
        """A fresh device of a tenant's user on the server."""
        return SyncClient(self.server.url, ClientReplica(), self.http, tenant.token(name))

    async def tenant_and_alice(self, *reps: str) -> tuple[Tenant, SyncClient]:
        """A tenant with these reps (Alice first) and a fresh device of Alice's."""
        tenant = await self.make_tenant(reps=reps)
        return tenant, self.client(tenant, "alice")


@pytest.fixture
def cli(
    server: Running,
    http: aiohttp.ClientSession,
    make_tenant: MakeTenant,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> Cli:
    return Cli(server, http, make_tenant, tmp_path, capsys)


async def test_a_device_export_against_its_server(cli: Cli) -> None:
    t, alice = await cli.tenant_and_alice("alice", "bob")
    o = make_order(alice.replica)
    await alice.sync()
    token = t.token("alice")

    # In sync: exit 0, says so (the file as the app downloads it: gzip).
    synced = export(alice, t, "alice", cli.tmp_path / "recap-device-synced.json.gz")
    code, out, _ = await cli.run(
        cli.server.url, str(cli.tmp_path / "recap-device-synced.json.gz"), "--token-a", token
    )
    assert code == 0 and out.startswith("in sync"), out

    # The device lost one message (log, registers, trie) and holds an edit not pushed yet.
    pending = alice.replica.edit_field("partners", o.partner, "short_name", "ACME")
    document = export(alice, t, "alice", cli.tmp_path / "full.json")
    lost = drop(document, o.quantity.timestamp)
    trie = without(alice.replica.trie, o.quantity.timestamp)
    lost["trie"] = trie.to_json()
    path = write(cli.tmp_path / "recap-device-lost.json.gz", lost)
    code, out, _ = await cli.run(cli.server.url, str(path), "--token-a", token, "--json")
    assert code == 1
    result = orjson.loads(out)
    assert set(result) == {
        "in_sync",
        "ranges",
        "a",
        "b",
        "only_a",
        "only_b",
        "unresolved",
        "compared_until",
    }
    assert result["in_sync"] is False and result["unresolved"] == []
    assert result["compared_until"] is None
    [only_server] = result["only_a"]
    assert only_server["timestamp"] == o.quantity.timestamp
    assert only_server["order"] == {"id": o.order, "partner": "Acme Foods", "date": "2026-12-02"}
    assert (only_server["field"], only_server["who"], only_server["summary"]) == (
        "quantity",
        "Alice",
        LINE,
    )
    [only_device] = result["only_b"]
    assert only_device["timestamp"] == pending.timestamp and only_device["who"] == "Alice"
    assert only_device["summary"] == 'set short name = "ACME" on partner "Acme Foods"'
    a, b = result["a"], result["b"]
    assert a["kind"] == "server" and b["kind"] == "device" and b["node"] == alice.replica.node
    assert b["root_hash"] == trie.hash("") and a["root_hash"] == synced["trie"]["hash"]
    assert a["count"] == len(alice.replica.log) - 1  # the server lacks the pending edit

    # The text: the ranges, then each side's lacks in the same terms.
    code, out, _ = await cli.run(cli.server.url, str(path), "--token-a", token)
    assert code == 1
    lines = out.splitlines()
    assert lines[0].endswith("divergent range(s):")
    start = lines.index("only on A (B lacks them): 1")
    when = only_server["when"]
    assert lines[start + 1] == (
        f"  {when[:10]} {when[11:19]}  Alice  {LINE}  [{o.quantity.timestamp}]"
    )
    assert lines[start + 2] == "only on B (A lacks them): 1"
    assert 'set short name = "ACME"' in lines[start + 3]

    # And the same as a real process, with the token from the environment; the html page
    # marks the missing message's minute.
    page = cli.tmp_path / "diff.html"
    code, out, err = await subprocess(str(path), cli.server.url, "--html", str(page), token=token)
    assert code == 1, err
    assert "only on B (A lacks them): 1" in out and LINE in out
    html = page.read_text()
    assert "<svg" in html and "<script" not in html and "src=" not in html  # self-contained
    assert f'class="b" data-minute="{minute_of(o.quantity.timestamp)}"' in html
    assert f'class="a" data-minute="{minute_of(pending.timestamp)}"' in html
    assert escape(LINE) in html


async def test_a_partial_log_is_matched_by_its_trie(cli: Cli) -> None:
    """A browser device keeps other devices' messages only as trie hashes once superseded
    (DESIGN.md, "What a device keeps"): those are not reported as missing; the one message
    removed is."""
    t, alice = await cli.tenant_and_alice("alice", "bob")
    o = make_order(alice.replica, quantity=10)
    superseded = o.quantity
    alice.replica.edit_field("pre_order_flows", o.flow, "quantity", 12)
    await alice.sync()
    bob = cli.client(t, "bob")
    await bob.sync()
    document = export(bob, t, "bob", cli.tmp_path / "bob.json")
    # Bob's log keeps none of Alice's messages (his registers and trie still count them),
    # and one message, the order's status, is gone altogether.
    status = next(
        m for m in alice.replica.log.values() if (m.dataset, m.column) == ("pre_orders", "status")
    )
    partial = drop(document, status.timestamp)
    partial["messages"] = []
    partial["trie"] = without(bob.replica.trie, status.timestamp).to_json()
    path = write(cli.tmp_path / "partial.json.gz", partial)
    code, out, _ = await cli.run(str(path), cli.server.url, "--token-b", t.token("bob"), "--json")
    assert code == 1
    result = orjson.loads(out)
    assert result["only_a"] == [] and result["unresolved"] == []
    assert [d["timestamp"] for d in result["only_b"]] == [status.timestamp]
    assert (
        result["only_b"][0]["summary"] == 'set status = "pending" on "Acme Foods" 2026-12-02 order'
    )
    assert superseded.timestamp not in {d["timestamp"] for d in result["only_b"]}


async def test_a_trie_file_against_a_server(cli: Cli) -> None:
    t, alice = await cli.tenant_and_alice("alice")
    o = make_order(alice.replica)
    await alice.sync()
    path = cli.tmp_path / "trie.json"
    path.write_bytes(
        orjson.dumps({"trie": without(alice.replica.trie, o.quantity.timestamp).to_json()})
    )
    code, out, _ = await cli.run(str(path), cli.server.url, "--token-b", t.token("alice"))
    assert code == 1
    lines = out.splitlines()
    minute = iso_millis(millis_of(o.quantity.timestamp) // 60_000 * 60_000)
    assert any(line.startswith(f"  {minute} .. ") for line in lines), out
    # The trie carries no messages: none are listed for it; the server's one it lacks is
    # matched from the hashes.
    assert "only on A (B lacks them): A carries no messages" in out
    listed = lines[lines.index("only on B (A lacks them): 1") + 1]
    assert listed.endswith(f"{LINE}  [{o.quantity.timestamp}]")
    code, out, _ = await cli.run(str(path), cli.server.url, "--token-b", t.token("alice"), "--json")
    result = orjson.loads(out)
    assert result["only_a"] is None and result["a"]["kind"] == "trie"
    assert [d["timestamp"] for d in result["only_b"]] == [o.quantity.timestamp]
    # A bare trie file with itself: in sync.
    bare = cli.tmp_path / "bare.json"
    bare.write_bytes(orjson.dumps(alice.replica.trie.to_json()))
    code, out, _ = await cli.run(str(bare), str(bare))
    assert code == 0 and out.startswith("in sync")


async def test_usage_and_connection_errors_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], server: Running
) -> None:
    bare = tmp_path / "bare.json"
    bare.write_bytes(b'{"hash": 0}')
    notjson = tmp_path / "x.json"
    notjson.write_bytes(b"\x1f\x8bnot gzip")
    broken = tmp_path / "broken.json"
    broken.write_bytes(
        orjson.dumps(
            {"format": "recap-device", "version": 1, "trie": {"hash": 0}, "messages": [{"x": 1}]}
            | {"registers": []}
        )
    )
    neither = tmp_path / "neither.json"
    neither.write_bytes(b'{"rows": []}')
    cases = [
        (["http://127.0.0.1:9", str(bare), "--token-a", "t"], "127.0.0.1:9"),
        ([str(broken), str(bare)], "malformed"),
        ([str(neither), str(bare)], "neither a device export nor a trie"),
        ([str(tmp_path / "nope.json"), str(bare)], "nope.json"),
        ([str(notjson), str(bare)], "x.json"),
        ([server.url, str(bare)], "needs a token"),
        ([server.url, str(bare), "--token-a", "bad"], "HTTP 401"),
    ]
    for args, said in cases:
        code, out, err = await run(capsys, *args)
        assert code == 2 and out == "" and said in err and "Traceback" not in err, (args, err)


# -- two deployments ---------------------------------------------------------------------------


@pytest.fixture
async def second_server(pg_url: str, template_db: str, tmp_path: Path) -> AsyncIterator[Running]:
    """Another deployment: its own database and server (a restored backup, say)."""
    name = f"recap_t_{secrets.token_hex(5)}"
    conn = await asyncpg.connect(pg_url)
    await conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template_db}"')
    await conn.close()
    url = with_database(pg_url, name)
    (tmp_path / "second").mkdir()
    app = create_app(settings_for(url, tmp_path / "second"))
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield Running(str(server.make_url("")).rstrip("/"), server, url)
    await server.close()
    conn = await asyncpg.connect(pg_url)
    await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await conn.close()


async def rep_on(server: Running, http: aiohttp.ClientSession, display: str) -> tuple[str, str]:
    """A tenant with one rep on `server`: its token and user id."""
    from seed import create_tenant

    email = f"rep-{secrets.token_hex(3)}@example.com"
    conn = await asyncpg.connect(server.db_url)
    _, [user] = await create_tenant(conn, "Acme", [(email, display, "pw-rep", "rep")])
    await conn.close()
    async with http.post(
        server.url + "/auth/login", json={"email": email, "password": "pw-rep"}
    ) as r:
        assert r.status == 200
        return str((await r.json())["token"]), user.id


async def test_two_deployments_of_one_tenant(
    server: Running,
    second_server: Running,
    http: aiohttp.ClientSession,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    token_a, _ = await rep_on(server, http, "Ana Rep")
    token_b, _ = await rep_on(second_server, http, "Ana Restored")
    device = SyncClient(server.url, ClientReplica(), http, token_a)
    o = make_order(device.replica)
    await device.sync()
    # The same messages on B, pushed by a device with the same node (as a restore would
    # hold them), then one edit only B has.
    copy = ClientReplica(device.replica.node)
    copy.apply(list(device.replica.log.values()))
    copy.outbox = dict(copy.log)
    restored = SyncClient(second_server.url, copy, http, token_b)
    await restored.sync()
    code, out, _ = await run(
        capsys, server.url, second_server.url, "--token-a", token_a, "--token-b", token_b
    )
    assert code == 0 and out.startswith("in sync"), out
    extra = copy.edit_field("pre_order_flows", o.flow, "quantity", 20)
    await restored.sync()

    code, out, _ = await run(
        capsys, server.url, second_server.url, "--token-a", token_a, "--token-b", token_b, "--json"
    )
    assert code == 1
    result = orjson.loads(out)
    assert result["only_a"] == [] and result["unresolved"] == []
    [only_b] = result["only_b"]
    assert only_b["timestamp"] == extra.timestamp and only_b["who"] == "Ana Restored"
    assert (
        only_b["summary"] == 'set quantity = 20 on "Acme Foods" 2026-12-02 order (line: Tomatoes)'
    )
    assert result["a"]["count"] == result["b"]["count"] - 1


async def subprocess(*args: str, token: str) -> tuple[int, str, str]:
    env = {**os.environ, "RECAP_TOKEN": token}
    env.pop("DATABASE_URL", None)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "sync_server",
        "diff",
        *args,
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()
