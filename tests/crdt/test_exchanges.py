"""The recorded exchanges (tests/vectors/exchanges.json, recorded from the real server by
tests/vectors/make_exchanges.py; frontend/tests/exchanges.test.ts replays them in the
browser's engine) replayed by `recap_client`: from each scenario's recorded state, the
client must make exactly the recorded requests (method, path, protocol headers, JSON body)
when served the recorded answers, and end with the server's root. A change to what the
client sends, or to how it reads an answer, fails here before it reaches a server."""

from __future__ import annotations

from collections import deque
from pathlib import Path
from typing import Any

import orjson
import pytest

from crdt.hlc import Clock
from crdt.message import Message
from crdt.timestamp import Timestamp
from recap_client import ClientReplica, SyncClient, SyncError
from recap_client.http import PROTOCOL, Reply

FILE = Path(__file__).resolve().parents[1] / "vectors" / "exchanges.json"
DATA: dict[str, Any] = orjson.loads(FILE.read_bytes())
SCENARIOS: dict[str, dict[str, Any]] = {s["name"]: s for s in DATA["scenarios"]}
#: The protocol's cases, one scenario each (issue 16): a new device, the one-request sync,
#: a repair, a conflict, clock drift, an unsupported version; then a paged pull, where the
#: two clients' requests differ (one scenario each: see the file's format).
CASES = [
    *("new_device", "push_and_pull", "repair", "conflict", "clock_drift"),
    *("unsupported_protocol", "paged_pull", "paged_pull_browser"),
]
#: The scenarios recap_client replays (the others are the browser's own).
OURS = [name for name, s in SCENARIOS.items() if "python" in s["clients"]]
#: The request headers a recording keeps (make_exchanges.HEADERS).
HEADERS = ("Recap-Protocol", "Content-Type", "Authorization")


def exchanges(scenario: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for step in scenario["steps"] for e in step.get("exchanges", [])]


def test_the_file_is_small_and_covers_the_cases() -> None:
    assert FILE.stat().st_size < 300_000
    assert DATA["generator"] == "tests/vectors/make_exchanges.py" and DATA["format"]
    assert list(SCENARIOS) == CASES
    for s in SCENARIOS.values():
        assert set(s) == {"name", "what", "clients", "initial", "steps", "root"}
        assert s["clients"] in (["python", "browser"], ["python"], ["browser"])
        assert set(s["initial"]) == {
            *("node", "now", "clock", "offset_ms", "pulled_through", "conflicts_after"),
            "messages",
        }
        for step in s["steps"]:
            assert step["do"] in {"edit", "sync", "bootstrap"}
            assert ("exchanges" in step) == (step["do"] != "edit")
        for e in exchanges(s):
            assert set(e) == {"method", "path", "headers", "body", "status", "response"}
            assert e["headers"]["Recap-Protocol"] == PROTOCOL
            assert e["headers"]["Authorization"] == f"Bearer {DATA['token']}"
            assert (e["method"], e["headers"].get("Content-Type")) in {
                ("POST", "application/json"),
                ("GET", None),
            }
            assert (e["body"] is None) == (e["method"] == "GET")
        assert (s["root"] is None) == (s["name"] == "unsupported_protocol")
    answers = {name: [e["response"] for e in exchanges(s)] for name, s in SCENARIOS.items()}
    paths = [e["path"] for e in exchanges(SCENARIOS["new_device"])]
    assert paths[0] == "/snapshot" and paths[-2:] == ["/sync", "/sync"]
    assert [e["path"] for e in exchanges(SCENARIOS["push_and_pull"])] == ["/sync"]
    assert any(a.get("descend") for a in answers["repair"])
    assert any(a.get("send") and a["messages"] for a in answers["repair"])
    notices = [c for a in answers["conflict"] for c in a["conflicts"]]
    assert [(c["kind"], c["yours"]) for c in notices] == [("overwrote", "loser")]
    assert answers["clock_drift"][0]["code"] == "clock_drift"
    assert answers["unsupported_protocol"] == [
        {**answers["unsupported_protocol"][0], "code": "unsupported_protocol", "supported": [3]}
    ]
    # The paged pull: each client's continuation requests, the same but for `messages`.
    assert [*CASES[:6], "paged_pull"] == OURS
    assert SCENARIOS["paged_pull_browser"]["clients"] == ["browser"]
    python, browser = (exchanges(SCENARIOS[n]) for n in ("paged_pull", "paged_pull_browser"))
    assert len(python) == len(browser) > 1
    for ours, theirs in zip(python[1:], browser[1:], strict=True):
        assert ours["body"] == {**theirs["body"], "node": ours["body"]["node"], "messages": []}
        assert "messages" not in theirs["body"]


class Replay:
    """A transport serving the recorded answers in order, each after checking that the
    request is the recorded one."""

    def __init__(self) -> None:
        self.queue: deque[dict[str, Any]] = deque()

    async def __call__(
        self, method: str, path: str, headers: dict[str, str], data: bytes | None
    ) -> Reply:
        assert self.queue, f"a request beyond the recording: {method} {path}"
        recorded = self.queue.popleft()
        made = {
            "method": method,
            "path": path,
            "headers": {k: headers[k] for k in HEADERS if k in headers},
            "body": orjson.loads(data) if data else None,
        }
        assert made == {k: recorded[k] for k in made}
        body = b"" if recorded["response"] is None else orjson.dumps(recorded["response"])
        return Reply(recorded["status"], body, len(body))


def replica_from(initial: dict[str, Any]) -> ClientReplica:
    """The recorded device: its messages (acknowledged: nothing in the outbox), clock and
    watermarks, under its pinned physical clock."""
    now = initial["now"]
    replica = ClientReplica(initial["node"], now=lambda: now)
    replica.apply([Message.from_json(m) for m in initial["messages"]])
    replica.clock = Clock(Timestamp.parse(initial["clock"]))
    replica.offset_ms = initial["offset_ms"]
    replica.pulled_through = initial["pulled_through"]
    replica.conflicts_after = initial["conflicts_after"]
    return replica


@pytest.mark.parametrize("name", OURS)
async def test_recap_client_makes_the_recorded_requests(name: str) -> None:
    scenario = SCENARIOS[name]
    replica = replica_from(scenario["initial"])
    replay = Replay()
    client = SyncClient("http://replay.invalid", replica, None, DATA["token"], transport=replay)
    for step in scenario["steps"]:
        if step["do"] == "edit":
            made = [
                replica.edit_field(c["dataset"], c["row"], c["column"], c["value"])
                for c in step["changes"]
            ]
            assert [m.to_json() for m in made] == step["messages"]
            continue
        replay.queue.extend(step["exchanges"])
        if "error" in step:
            unsent = set(replica.outbox)
            with pytest.raises(SyncError) as caught:
                await client.sync()
            assert {"status": caught.value.status, "code": caught.value.code} == step["error"]
            assert set(replica.outbox) == unsent and unsent  # nothing lost, nothing retried
        elif step["do"] == "bootstrap":
            await client.bootstrap(node=step["node"])
            assert replica.node == step["node"]
        else:
            await client.sync()
            assert not replica.outbox
        assert not replay.queue, "recorded requests the client did not make"
    if scenario["root"] is not None:
        assert list(replica.trie.get("") or (0, 0)) == scenario["root"]
