// The recorded exchanges (tests/vectors/exchanges.json, recorded from the real server by
// tests/vectors/make_exchanges.py; tests/crdt/test_exchanges.py replays them in recap_client)
// replayed by the browser's engine: its SyncClient over fetchTransport, on a LocalReplica in
// fake IndexedDB, with `fetch` serving the recorded answers in order. Each request must be the
// recorded one (method, path, protocol headers, JSON body) and the device must end with the
// server's root: the browser and the Python client speak the protocol the same way.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { afterEach, describe, expect, it, vi } from 'vitest';

import { clockToJson, newClock } from '../src/engine/hlc';
import { messageFromJson, messageToJson } from '../src/engine/message';
import { HttpError, PROTOCOL_VERSION, SyncClient, fetchTransport } from '../src/engine/sync';
import { LocalReplica, RecapDB, type Change } from '../src/engine/store';
import { Timestamp } from '../src/engine/timestamp';

interface Exchange {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: unknown;
  status: number;
  response: unknown;
}

interface Initial {
  node: string;
  now: number;
  clock: string;
  offset_ms: number;
  pulled_through: number;
  conflicts_after: number;
  messages: unknown[];
}

type Step =
  | { do: 'edit'; changes: Change[]; messages: unknown[] }
  | { do: 'sync' | 'bootstrap'; node?: string; exchanges: Exchange[]; error?: { status: number; code: string } };

interface Scenario {
  name: string;
  what: string;
  /** Which clients replay it: both, but where their requests differ (see the file's format). */
  clients: ('python' | 'browser')[];
  initial: Initial;
  steps: Step[];
  root: [number, number] | null;
}

const DATA = JSON.parse(
  readFileSync(join(import.meta.dirname, '..', '..', 'tests', 'vectors', 'exchanges.json'), 'utf8'),
) as { generator: string; format: string; token: string; scenarios: Scenario[] };

/** The request headers a recording keeps (make_exchanges.py HEADERS). */
const HEADERS = ['Recap-Protocol', 'Content-Type', 'Authorization'];

/** The protocol's cases, one scenario each (as tests/crdt/test_exchanges.py CASES); the paged
 * pull has one per client, as their continuation requests differ. */
const CASES = [
  'new_device',
  'push_and_pull',
  'repair',
  'conflict',
  'clock_drift',
  'unsupported_protocol',
  'paged_pull',
  'paged_pull_browser',
];

/** The scenarios the browser replays (the others are recap_client's own). */
const OURS = DATA.scenarios.filter((s) => s.clients.includes('browser'));

/** A `fetch` serving the recorded answers in order, each after checking the request. */
class Replay {
  readonly queue: Exchange[] = [];
  /** The first request that was not the recorded one (fetchTransport turns what `fetch`
   * throws into a NetworkError: this keeps the assertion's own message). */
  mismatch: unknown = null;

  /** `action`, failing with the mismatch if there was one. */
  async run<T>(action: Promise<T>): Promise<T> {
    try {
      return await action;
    } catch (exc) {
      throw this.mismatch ?? exc;
    }
  }

  fetch = (input: string, init?: RequestInit): Promise<Response> => {
    const recorded = this.queue.shift();
    const method = init?.method ?? 'GET';
    const path = input;
    if (recorded === undefined) throw new Error(`a request beyond the recording: ${method} ${path}`);
    const sent = (init?.headers ?? {}) as Record<string, string>;
    const headers = Object.fromEntries(HEADERS.filter((k) => k in sent).map((k) => [k, sent[k]]));
    const body: unknown = typeof init?.body === 'string' ? JSON.parse(init.body) : null;
    try {
      expect({ method, path, headers, body }).toStrictEqual({
        method: recorded.method,
        path: recorded.path,
        headers: recorded.headers,
        body: recorded.body,
      });
    } catch (exc) {
      this.mismatch ??= exc;
      throw exc;
    }
    const text = recorded.response === null ? '' : JSON.stringify(recorded.response);
    return Promise.resolve(new Response(text, { status: recorded.status }));
  };
}

let databases = 0;

/** The recorded device: its messages (acknowledged: nothing in the outbox), clock and
 * watermarks, under its pinned physical clock. */
async function replicaFrom(initial: Initial): Promise<LocalReplica> {
  databases += 1;
  const replica = new LocalReplica(new RecapDB(`exchanges-${databases}`), () => initial.now);
  await replica.db.meta.bulkPut([
    { key: 'node', value: initial.node },
    { key: 'clock', value: clockToJson(newClock(initial.node)) },
    { key: 'offset', value: initial.offset_ms },
  ]);
  await replica.open();
  await replica.receiveRemote(initial.messages.map(messageFromJson));
  await replica.db.meta.bulkPut([
    { key: 'clock', value: { timestamp: Timestamp.parse(initial.clock).toString() } },
    { key: 'pulledThrough', value: initial.pulled_through },
    { key: 'conflictsAfter', value: initial.conflicts_after },
  ]);
  return replica;
}

afterEach(() => {
  vi.unstubAllGlobals();
});

describe('recorded exchanges', () => {
  it('cover the protocol cases', () => {
    expect(DATA.generator).toBe('tests/vectors/make_exchanges.py');
    expect(DATA.scenarios.map((s) => s.name)).toEqual(CASES);
    expect(OURS.map((s) => s.name)).toEqual([...CASES.slice(0, 6), 'paged_pull_browser']);
    for (const s of DATA.scenarios) {
      for (const step of s.steps) {
        if (step.do === 'edit') continue;
        for (const e of step.exchanges) expect(e.headers['Recap-Protocol']).toBe(PROTOCOL_VERSION);
      }
    }
  });

  it.each(OURS.map((s) => [s.name, s] as const))('%s: the browser makes the recorded requests', async (_name, s) => {
    const replica = await replicaFrom(s.initial);
    const replay = new Replay();
    vi.stubGlobal('fetch', replay.fetch);
    const client = new SyncClient(
      replica,
      fetchTransport('', () => DATA.token),
      { now: () => s.initial.now },
    );
    for (const step of s.steps) {
      if (step.do === 'edit') {
        const made = await replica.edit(step.changes);
        expect(made.map(messageToJson)).toStrictEqual(step.messages);
        continue;
      }
      replay.queue.push(...step.exchanges);
      if (step.error !== undefined) {
        const unsent = await replica.outboxCount();
        const error = await client.sync().then(
          () => null,
          (exc: unknown) => exc,
        );
        expect(replay.mismatch).toBe(null);
        expect(error).toBeInstanceOf(HttpError);
        const refusal = error as HttpError;
        expect({ status: refusal.status, code: refusal.code }).toEqual(step.error);
        expect(unsent).toBeGreaterThan(0);
        expect(await replica.outboxCount()).toBe(unsent); // nothing lost, nothing retried
      } else if (step.do === 'bootstrap') {
        expect(step.node).toBe(replica.node); // a browser made its node when it opened its database
        await replay.run(client.bootstrap());
      } else {
        await replay.run(client.sync());
        expect(await replica.outboxCount()).toBe(0);
      }
      expect(replay.queue).toEqual([]); // every recorded request was made
    }
    if (s.root !== null) expect(await replica.root()).toEqual(s.root);
  });
});
