import { describe, expect, it } from 'vitest';

import { ClockDriftError, CounterOverflow, DuplicateNodeError, InvalidTimestamp } from '../src/engine/errors';
import { clockFromJson, clockToJson, newClock, recv, send } from '../src/engine/hlc';
import { Timestamp, hashTimestamp, minTimestampAt } from '../src/engine/timestamp';

const A = 'abcdef0123456789';
const B = '0123456789abcdef';
const T = Date.parse('2026-11-23T06:00:00.005Z');

describe('timestamp', () => {
  it('has the reference format', () => {
    expect(new Timestamp(T, 26, A).toString()).toBe('2026-11-23T06:00:00.005Z-001A-abcdef0123456789');
    expect(minTimestampAt(T)).toBe('2026-11-23T06:00:00.005Z-0000-0000000000000000');
  });
  it('hashes like mmh3 / the reference', () => {
    expect(hashTimestamp('2018-11-12T13:21:40.122Z-0000-0123456789ABCDEF')).toBe(1983295247);
  });
  it.each([
    '2026-11-23T06:00:00.005Z-001a-abcdef0123456789',
    '2026-11-23T06:00:00.005Z-001A-ABCDEF0123456789',
    '2026-02-30T06:00:00.005Z-001A-abcdef0123456789',
    '2026-11-23T24:00:00.005Z-001A-abcdef0123456789',
    '2026-11-23T06:00:00Z-001A-abcdef0123456789',
    'nonsense',
  ])('rejects %s', (s) => {
    expect(() => Timestamp.parse(s)).toThrow(InvalidTimestamp);
  });
  it('rejects bad parts', () => {
    expect(() => new Timestamp(-1, 0, A)).toThrow(InvalidTimestamp);
    expect(() => new Timestamp(0, 0x10000, A)).toThrow(InvalidTimestamp);
    expect(() => new Timestamp(0, 0, 'xyz')).toThrow(InvalidTimestamp);
  });
});

describe('hlc', () => {
  it('send uses physical time, then the counter within one millisecond', () => {
    let c = newClock(A);
    let ts: Timestamp;
    [c, ts] = send(c, T);
    expect(ts.toString()).toBe('2026-11-23T06:00:00.005Z-0000-abcdef0123456789');
    [c, ts] = send(c, T);
    expect(ts.counter).toBe(1);
    [c, ts] = send(c, T - 10); // the physical clock went back: stay ahead
    expect([ts.millis, ts.counter]).toEqual([T, 2]);
    [, ts] = send(c, T + 1);
    expect([ts.millis, ts.counter]).toEqual([T + 1, 0]);
  });

  it('recv follows the reference counter rules', () => {
    const base = newClock(A);
    const [local] = send(base, T);
    expect(recv(local, new Timestamp(T, 5, B), T).last.counter).toBe(6); // both equal
    expect(recv(local, new Timestamp(T - 1, 5, B), T).last.counter).toBe(1); // local's
    const r = recv(local, new Timestamp(T + 10, 5, B), T);
    expect([r.last.millis, r.last.counter]).toEqual([T + 10, 6]); // remote's
    expect(recv(local, new Timestamp(T - 1, 5, B), T + 100).last.counter).toBe(0); // physical
  });

  it('refuses drift, overflow and a duplicate node', () => {
    const c = newClock(A);
    expect(() => recv(c, new Timestamp(T + 5 * 60_000 + 1, 0, B), T)).toThrow(ClockDriftError);
    const [ahead] = send(c, T + 10 * 60_000);
    expect(() => send(ahead, T)).toThrow(ClockDriftError);
    const full = { last: new Timestamp(T, 0xffff, A), maxDriftMs: 300_000 };
    expect(() => send(full, T)).toThrow(CounterOverflow);
    expect(() => recv(c, new Timestamp(T, 0, A), T)).toThrow(DuplicateNodeError);
  });

  it('round-trips through JSON', () => {
    const [c] = send(newClock(A), T);
    expect(clockToJson(c)).toEqual({
      timestamp: '2026-11-23T06:00:00.005Z-0000-abcdef0123456789',
      max_drift_ms: 300000,
    });
    expect(clockFromJson(clockToJson(c)).last.toString()).toBe(c.last.toString());
  });
});
