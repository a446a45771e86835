import { describe, expect, it } from 'vitest';

import { InvalidTimestamp } from '../src/engine/errors';
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

  it('never refuses: no drift check, a full counter carries, our own node moves it', () => {
    const c = newClock(A);
    const ahead = recv(c, new Timestamp(T + 5 * 60_000, 0, B), T - 2000); // our clock behind
    expect(send(ahead, T - 2000)[1].millis).toBe(T + 5 * 60_000);
    const full = { last: new Timestamp(T, 0xffff, A) };
    expect(send(full, T)[1]).toEqual(new Timestamp(T + 1, 0, A));
    const poisoned = recv(c, new Timestamp(T + 4 * 60_000, 0xffff, B), T);
    expect([poisoned.last.millis, poisoned.last.counter]).toEqual([T + 4 * 60_000 + 1, 0]);
    const own = recv(c, new Timestamp(T + 50, 3, A), T);
    expect(send(own, T)[1]).toEqual(new Timestamp(T + 50, 5, A));
  });

  it('never refuses and stays strictly ahead, for 20000 random events', () => {
    // As tests/crdt/test_properties.py: any message the server accepted (at most the drift
    // limit ahead of its time, any counter, any node) on a replica `skew` off its time.
    let seed = 7;
    const next = (): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    let clock = newClock(A);
    let last = clock.last.toString();
    let serverNow = T;
    const skew = 1500;
    for (let i = 0; i < 20000; i++) {
      serverNow += Math.floor(next() * 200) - 100;
      const now = serverNow + skew - Math.floor(next() * 3000);
      if (next() < 0.5) {
        const [c, ts] = send(clock, now);
        expect(ts.toString() > last).toBe(true);
        clock = c;
      } else {
        const offset = Math.floor(next() * 5 * 60_000) - Math.floor(next() * 86_400_000);
        const remote = new Timestamp(serverNow + offset, Math.floor(next() * 0x10000), next() < 0.2 ? A : B);
        clock = recv(clock, remote, now);
        const ahead =
          clock.last.millis > remote.millis ||
          (clock.last.millis === remote.millis && clock.last.counter > remote.counter);
        expect(ahead).toBe(true);
        expect(clock.last.toString() > last).toBe(true);
      }
      last = clock.last.toString();
    }
  });

  it('round-trips through JSON', () => {
    const [c] = send(newClock(A), T);
    expect(clockToJson(c)).toEqual({ timestamp: '2026-11-23T06:00:00.005Z-0000-abcdef0123456789' });
    expect(clockFromJson(clockToJson(c)).last.toString()).toBe(c.last.toString());
    // A clock saved by an older version (with max_drift_ms) still loads.
    const old = { timestamp: c.last.toString(), max_drift_ms: 300000 };
    expect(clockFromJson(old).last.toString()).toBe(c.last.toString());
  });
});
