import { describe, expect, it } from 'vitest';

import {
  buildExport,
  countedByDevice,
  describeMessage,
  descriptionsOf,
  exportName,
  gzipJson,
  heldMessages,
  nodesToName,
  readDevice,
  registersOf,
  rowIndex,
  splitRanges,
  timeline,
  trimTrie,
  TRIM_DEPTH,
  type CompareAnswer,
  type WireMessage,
} from '../src/app/diagnostics';
import { FlatTrie, diffRanges, type Trie } from '../src/engine/merkle';
import type { RowRecord } from '../src/engine/rowgroups';
import type { Session } from '../src/engine/store';
import { Timestamp, isoMillis } from '../src/engine/timestamp';
import { newId, newReplica } from './helpers';

const ME = 'aaaaaaaaaaaaaaaa';
const BOB = 'bbbbbbbbbbbbbbbb';
const T = Date.parse('2026-12-01T09:00:00Z');
const ts = (ms: number, node: string, counter = 0): string => new Timestamp(T + ms, counter, node).toString();
const msg = (timestamp: string, column = 'quantity', value: WireMessage['value'] = 1): WireMessage => ({
  dataset: 'pre_order_flows',
  row: 'f1',
  column,
  value,
  timestamp,
});

function trieOf(stamps: readonly string[]): FlatTrie {
  const t = new FlatTrie();
  for (const s of stamps) t.insert(s);
  return t;
}

/** The server's answer as POST /debug/merkle/compare builds it: the divergent ranges and
 * every server message in them. */
function answerFor(server: readonly WireMessage[], device: FlatTrie, truncated = false): CompareAnswer {
  const ranges = diffRanges(trieOf(server.map((m) => m.timestamp)).toJson(), device.toJson());
  const inside = (m: WireMessage): boolean => {
    const ms = Timestamp.parse(m.timestamp).millis;
    return ranges.some(([s, e]) => ms >= s && ms < e);
  };
  return {
    in_sync: ranges.length === 0,
    ranges: ranges.map(([start, end]) => ({ start, end, from: isoMillis(start), to: isoMillis(end) })),
    server_messages: server.filter(inside),
    truncated,
  };
}

describe('device export', () => {
  it('holds the trie, the log, the outbox and every register, and no session token', async () => {
    const r = await newReplica();
    const session: Session = {
      token: 'secret-session-token',
      expires_at: Date.now() + 3_600_000,
      user: { id: newId(), tenant_id: newId(), email: 'ana@example.com', display_name: 'Ana Rep', role: 'rep' },
    };
    await r.setMeta('session', session);
    await r.setMeta('status', { phase: 'idle', lastSyncAt: 1_764_600_000_000, error: null, at: 0 });
    await r.setPulledThrough(42);
    const flow = newId();
    const [a] = await r.edit([{ dataset: 'pre_order_flows', row: flow, column: 'quantity', value: 2 }]);
    const [b, c] = await r.edit([
      { dataset: 'pre_order_flows', row: flow, column: 'quantity', value: 3 },
      { dataset: 'pre_order_flows', row: flow, column: 'weight', value: 1.5 },
    ]);
    await r.ack([a?.timestamp ?? '']);
    const now = new Date('2026-12-01T17:04:05.678Z');
    const doc = buildExport(await readDevice(r), 'http://127.0.0.1:8080', now);

    expect(doc.format).toBe('recap-device');
    expect(doc.version).toBe(1);
    expect(doc.exported_at).toBe('2026-12-01T17:04:05.678Z');
    expect(doc.server).toBe('http://127.0.0.1:8080');
    expect(doc.user).toEqual({ id: session.user.id, name: 'Ana Rep', role: 'rep' });
    expect(doc.tenant_id).toBe(session.user.tenant_id);
    expect(doc.node).toBe(r.node);
    expect(doc.clock).toBe(c?.timestamp);
    expect(doc.clock_offset_ms).toBe(0);
    expect(doc.pulled_through).toBe(42);
    expect(doc.last_sync_at).toBe(1_764_600_000_000);
    expect(doc.trie).toEqual((await r.flatTrie()).toJson());
    // The log in wire form: five keys, no `prev`.
    expect(doc.messages.map((m) => m.timestamp)).toEqual([a, b, c].map((m) => m?.timestamp));
    for (const m of doc.messages)
      expect(Object.keys(m).sort()).toEqual(['column', 'dataset', 'row', 'timestamp', 'value']);
    expect(doc.outbox).toEqual([b?.timestamp, c?.timestamp]);
    expect(doc.registers).toEqual([
      { dataset: 'pre_order_flows', row: flow, column: 'quantity', value: 3, timestamp: b?.timestamp },
      { dataset: 'pre_order_flows', row: flow, column: 'weight', value: 1.5, timestamp: c?.timestamp },
    ]);
    const text = JSON.stringify(doc);
    expect(text).not.toContain('secret-session-token');
    expect(text).not.toContain('ana@example.com');
  });

  it('is gzip-compressed JSON under a name with the node and the UTC minute', async () => {
    const doc = { format: 'recap-device', version: 1, messages: [msg(ts(0, ME))] };
    const blob = await gzipJson(doc);
    const bytes = new Uint8Array(await blob.arrayBuffer());
    expect([bytes[0], bytes[1]]).toEqual([0x1f, 0x8b]);
    const plain = await new Response(blob.stream().pipeThrough(new DecompressionStream('gzip'))).text();
    expect(JSON.parse(plain)).toEqual(doc);
    expect(exportName('0123456789abcdef', new Date('2026-12-01T07:05:59Z'))).toBe(
      'recap-device-0123456789abcdef-20261201-0705.json.gz',
    );
  });

  it('holds each message once: the log and the registers, by timestamp', () => {
    const a = msg(ts(0, ME));
    const b = msg(ts(5, BOB), 'weight', 2);
    const rows: RowRecord[] = [
      {
        ds: 'pre_order_flows',
        id: 'f1',
        cols: { quantity: { value: 1, timestamp: a.timestamp }, weight: { value: 2, timestamp: b.timestamp } },
      },
    ];
    expect(heldMessages([a], registersOf(rows))).toEqual([a, b]);
  });
});

describe('comparison', () => {
  it('names what each side lacks, and not what the device counts without keeping', () => {
    const kept = msg(ts(1_000, ME));
    const lacked = msg(ts(2_000, ME, 1), 'weight', 4);
    const overwritten = msg(ts(3_000, BOB), 'quantity', 7); // counted by the device, not kept
    const mineOnly = msg(ts(4_000, ME), 'quantity', 9);
    const elsewhere = msg(ts(86_400_000, BOB), 'status', 'confirmed'); // a day later, both hold it
    const server = [kept, lacked, overwritten, elsewhere];
    const device = trieOf([kept, overwritten, mineOnly, elsewhere].map((m) => m.timestamp));
    const answer = answerFor(server, device);
    expect(answer.ranges).toHaveLength(1);

    const [range] = splitRanges(answer, heldMessages([kept, mineOnly, elsewhere], []), device);
    expect(range?.serverOnly).toEqual([lacked]);
    expect(range?.deviceOnly).toEqual([mineOnly]);
    expect(range?.countedHere).toEqual([overwritten]);
    expect(range?.uncertain).toBe(false);
  });

  it('says when it cannot tell which messages a minute counts', () => {
    const a = msg(ts(1_000, BOB));
    const b = msg(ts(2_000, BOB, 1));
    // The device counts a message in this minute that neither side names.
    const device = trieOf([ts(3_000, ME)]);
    const answer = answerFor([a, b], device);
    const [range] = splitRanges(answer, [], device);
    expect(range?.uncertain).toBe(true);
    expect(range?.serverOnly).toEqual([a, b]);
  });

  it('compares nothing past the end of a list cut short', () => {
    const early = msg(ts(0, BOB)); // a minute before the rest
    const listed = msg(ts(60_000, BOB));
    const unlisted = msg(ts(61_000, ME, 1), 'weight', 3); // the server holds it, past its list
    const device = trieOf([unlisted.timestamp]);
    const full = answerFor([early, listed, unlisted], device);
    const cut: CompareAnswer = { ...full, server_messages: [early, listed], truncated: true };
    const [range] = splitRanges(cut, [unlisted], device);
    expect(range?.serverOnly).toEqual([early, listed]); // the early minute is complete; the last is not
    expect(range?.deviceOnly).toEqual([]);
    expect(range?.beyond).toBe(1);
    expect(range?.uncertain).toBe(true);
  });

  it('leaves refused edits (not counted) out of the device side', () => {
    const a = msg(ts(1_000, BOB));
    const refused = msg(ts(2_000, ME), 'status', 'confirmed');
    const device = new FlatTrie();
    const answer = answerFor([a], device);
    const [range] = splitRanges(answer, [refused], device, new Set([refused.timestamp]));
    expect(range?.serverOnly).toEqual([a]);
    expect(range?.deviceOnly).toEqual([]);
    expect(range?.uncertain).toBe(false);
  });

  it('sends only the subtrees that differ, and finds the same ranges', () => {
    const shared = Array.from({ length: 40 }, (_, i) => ts(i * 3_600_000, BOB));
    const device = trieOf([...shared, ts(5 * 86_400_000, ME)]);
    const server = trieOf([...shared, ts(2 * 86_400_000 + 7, BOB)]);
    const cut = (node: Trie, depth: number): Trie => {
      const out: Trie = { hash: node.hash };
      if (depth > 0) for (const k of ['0', '1', '2'] as const) if (node[k]) out[k] = cut(node[k], depth - 1);
      return out;
    };
    const trimmed = trimTrie(device.toJson(), cut(server.toJson(), TRIM_DEPTH));
    expect(diffRanges(server.toJson(), trimmed)).toEqual(diffRanges(server.toJson(), device.toJson()));
    const nodes = (t: Trie): number => 1 + (['0', '1', '2'] as const).reduce((n, k) => n + (t[k] ? nodes(t[k]) : 0), 0);
    expect(nodes(trimmed)).toBeLessThan(nodes(device.toJson()) / 2);
    // In sync: the root alone.
    expect(trimTrie(device.toJson(), cut(device.toJson(), 2))).toEqual({ hash: device.hash() });
  });

  it('finds the one subset of a leaf that its hash and count name', () => {
    const stamps = [ts(1, BOB), ts(2, BOB), ts(3, BOB), ts(4, BOB)];
    const h = trieOf([stamps[1] ?? '', stamps[3] ?? '']).hash();
    expect(countedByDevice(stamps, h, 2)).toEqual([stamps[1], stamps[3]]);
    expect(countedByDevice(stamps, h, 1)).toBeNull();
    expect(countedByDevice(stamps, 0, 0)).toEqual([]);
    expect(countedByDevice(stamps, 0, 5)).toBeNull();
  });
});

describe('the server’s words', () => {
  it('match its messages by timestamp, or by place', () => {
    const a = msg(ts(1, BOB));
    const b = msg(ts(2, BOB));
    const answer: CompareAnswer = {
      in_sync: false,
      ranges: [],
      server_messages: [a, b],
      truncated: false,
      server_described: [{ who: 'Bob Chen' }, { timestamp: b.timestamp, who: 'Carla Diaz' }],
    };
    const words = descriptionsOf(answer);
    expect(words.get(a.timestamp)?.who).toBe('Bob Chen');
    expect(words.get(b.timestamp)?.who).toBe('Carla Diaz');
    expect(descriptionsOf({ ...answer, server_described: [] }).size).toBe(0);
  });

  it('are asked for the nodes of messages only this device holds, but its own', () => {
    const range = {
      start: 0,
      end: 1,
      serverOnly: [msg(ts(3, 'cccccccccccccccc'))],
      deviceOnly: [msg(ts(1, ME)), msg(ts(2, BOB)), msg(ts(4, BOB))],
      countedHere: [],
      uncertain: false,
      beyond: 0,
    };
    expect(nodesToName([range], ME)).toEqual([BOB]);
  });
});

describe('timeline', () => {
  it('draws one row per local day spanned, with the divergent minutes', () => {
    const start = new Date(2026, 11, 1, 23, 58).getTime();
    const other = new Date(2026, 11, 3, 10, 15).getTime();
    const { days, more } = timeline([
      { start, end: start + 5 * 60_000 },
      { start: other, end: other + 60_000 },
    ]);
    expect(more).toBe(0);
    expect(days.map((d) => d.day)).toEqual(['2026-12-01', '2026-12-02', '2026-12-03']);
    expect(days.map((d) => d.marks)).toEqual([[[1438, 1440]], [[0, 3]], [[615, 616]]]);
    expect(days[0]?.start).toBe(new Date(2026, 11, 1).getTime());
  });

  it('stops after maxDays and says roughly how many more', () => {
    const start = new Date(2026, 0, 1, 12).getTime();
    const { days, more } = timeline([{ start, end: start + 40 * 86_400_000 }], 31);
    expect(days).toHaveLength(31);
    expect(more).toBeGreaterThanOrEqual(9);
    expect(more).toBeLessThanOrEqual(10);
  });
});

describe('in human terms', () => {
  const rows: RowRecord[] = [
    { ds: 'partners', id: 'p1', cols: { name: { value: 'Cedar Market', timestamp: ts(0, BOB) } } },
    { ds: 'products', id: 'k1', cols: { name: { value: 'Organic Apples', timestamp: ts(0, BOB) } } },
    {
      ds: 'pre_orders',
      id: 'o1',
      cols: {
        partner_id: { value: 'p1', timestamp: ts(0, BOB) },
        delivery_date: { value: '2026-12-02', timestamp: ts(0, BOB) },
      },
      date: '2026-12-02',
    },
    {
      ds: 'pre_order_flows',
      id: 'f1',
      cols: {
        pre_order_id: { value: 'o1', timestamp: ts(0, BOB) },
        product_id: { value: 'k1', timestamp: ts(0, BOB) },
      },
      parent: 'o1',
    },
  ];
  const ctx = { rows: rowIndex(rows), node: ME, user: { id: 'u1', name: 'Ana Rep' } };

  it('names the line by its product and its order by partner and date; this device by its user', () => {
    const d = describeMessage(ctx, msg(ts(60_000, ME), 'quantity', 41));
    expect(d).toEqual({
      timestamp: ts(60_000, ME),
      record: 'Organic Apples in the pre-order for Cedar Market on 2026-12-02',
      field: 'quantity',
      value: '41',
      who: 'Ana Rep (this device)',
      when: T + 60_000,
    });
    const order = describeMessage(
      ctx,
      { dataset: 'pre_orders', row: 'o1', column: 'partner_id', value: 'p1', timestamp: ts(0, BOB) },
      { who: 'Bob Chen' },
    );
    expect(order.record).toBe('The pre-order for Cedar Market on 2026-12-02');
    expect(order.value).toBe('Cedar Market');
    expect(order.who).toBe('Bob Chen');
  });

  it('falls back to the server’s words, then to "another device"', () => {
    const unknown = { dataset: 'pre_orders', row: 'o9', column: 'status', value: 'confirmed', timestamp: ts(5, BOB) };
    expect(describeMessage(ctx, unknown, { target: '"Oak Deli" 2026-12-04 order' }).record).toBe(
      '"Oak Deli" 2026-12-04 order',
    );
    expect(describeMessage(ctx, unknown).who).toBe('another device');
    expect(describeMessage(ctx, unknown, { who: 'unknown device' }).who).toBe('another device');
    expect(describeMessage({ ...ctx, nodeNames: new Map([[BOB, 'Bob Chen']]) }, unknown).who).toBe('Bob Chen');
    const partner = { ...unknown, column: 'partner_id', value: 'p9' };
    expect(describeMessage(ctx, partner, { value_text: 'Oak Deli' }).value).toBe('Oak Deli');
  });
});
