import { describe, expect, it } from 'vitest';

import { classify, mergeBatch, mergeField, rowKey, type Registers } from '../src/engine/merge';
import type { Message, Scalar } from '../src/engine/message';
import { Timestamp } from '../src/engine/timestamp';

const A = 'aaaaaaaaaaaaaaaa';
const B = 'bbbbbbbbbbbbbbbb';
const ROW = '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b';
const T = Date.parse('2026-11-23T06:00:00.000Z');

function ts(ms: number, node: string, counter = 0): string {
  return new Timestamp(T + ms, counter, node).toString();
}

function msg(column: string, value: Scalar, timestamp: string, prev?: string): Message {
  const m = { dataset: 'pre_order_flows', row: ROW, column, value, timestamp };
  return prev === undefined ? m : { ...m, prev };
}

function state(messages: Message[]): Record<string, Scalar> {
  const merged = mergeBatch(new Map(), messages);
  const cols = merged.changed.get(rowKey('pre_order_flows', ROW))?.columns ?? {};
  return Object.fromEntries(Object.entries(cols).map(([c, r]) => [c, r.value]));
}

describe('LWW', () => {
  const edits = [
    msg('quantity', 1, ts(1, A)),
    msg('quantity', 2, ts(2, B)),
    msg('quantity', 3, ts(2, A, 1)),
    msg('weight', 9, ts(0, B)),
  ];

  it('gives the same state in any order and with duplicates', () => {
    const expected = state(edits);
    expect(expected).toEqual({ quantity: 3, weight: 9 });
    const orders = [[...edits].reverse(), [edits[2], edits[0], edits[3], edits[1]], [...edits, ...edits]];
    for (const order of orders) expect(state(order.filter((m): m is Message => m !== undefined))).toEqual(expected);
  });

  it('an older message is not applied; an equal one changes nothing', () => {
    const newer = msg('quantity', 5, ts(10, A));
    const { register, applied } = mergeField({ value: 5, timestamp: newer.timestamp }, [
      msg('quantity', 1, ts(1, B)),
      newer,
    ]);
    expect(register?.value).toBe(5);
    expect(applied).toEqual([]);
  });

  it('applying a batch in parts gives the same registers as at once', () => {
    const first = mergeBatch(new Map(), edits.slice(0, 2));
    const current = new Map<string, Registers>();
    for (const [k, v] of first.changed) current.set(k, v.columns);
    const second = mergeBatch(current, edits.slice(2));
    const all = mergeBatch(new Map(), edits);
    const merged = {
      ...current.get(rowKey('pre_order_flows', ROW)),
      ...second.changed.get(rowKey('pre_order_flows', ROW))?.columns,
    };
    expect(merged).toEqual(all.changed.get(rowKey('pre_order_flows', ROW))?.columns);
  });
});

describe('conflicts', () => {
  it('same node or same message: none', () => {
    expect(classify(msg('quantity', 2, ts(2, A)), { value: 1, timestamp: ts(1, A) })).toBeNull();
    expect(classify(msg('quantity', 1, ts(1, B)), { value: 1, timestamp: ts(1, B) })).toBeNull();
    expect(classify(msg('quantity', 1, ts(1, B)), undefined)).toBeNull();
  });

  it('superseded: a late message loses to a concurrent one from another node', () => {
    const c = classify(msg('quantity', 1, ts(1, B)), { value: 2, timestamp: ts(2, A) });
    expect(c?.kind).toBe('superseded');
    expect(c?.winner.value).toBe(2);
    expect(c?.loser.value).toBe(1);
  });

  it('not superseded when the winner replaced it knowingly (prev)', () => {
    expect(classify(msg('quantity', 1, ts(1, B)), { value: 2, timestamp: ts(2, A), prev: ts(1, B) })).toBeNull();
  });

  it('overwrote: wins over a value its writer had not seen; not when prev matches', () => {
    const current = { value: 1, timestamp: ts(1, A) };
    expect(classify(msg('quantity', 2, ts(2, B)), current)?.kind).toBe('overwrote');
    expect(classify(msg('quantity', 2, ts(2, B), ts(1, A)), current)).toBeNull();
  });

  it('deleted: an edit on a deleted row, and a delete over later edits', () => {
    const del = msg('tombstone', 1, ts(5, A));
    const edit = msg('quantity', 7, ts(3, B));
    const both = mergeBatch(new Map(), [del, edit]);
    expect(both.conflicts.map((c) => c.kind)).toEqual(['deleted']);
    expect(state([del, edit]).tombstone).toBe(1);
    const lateEdit = msg('quantity', 8, ts(9, B));
    const current = new Map<string, Registers>([
      [rowKey('pre_order_flows', ROW), { tombstone: { value: 1, timestamp: del.timestamp } }],
    ]);
    const r = mergeBatch(current, [lateEdit]);
    expect(r.conflicts).toHaveLength(1);
    expect(r.conflicts[0]?.winner.value).toBe(1);
    expect(r.conflicts[0]?.loser.value).toBe(8);
  });
});
