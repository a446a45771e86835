// The timestamp grammar (DESIGN.md, "Clock") on the shared vectors, tests/vectors/
// timestamps.json (also run by tests/crdt/test_timestamp_vectors.py): this parser accepts
// exactly the strings the Python one does, reads the same instant from each, and formats
// every timestamp it accepts back to the same string.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { InvalidMessage, InvalidTimestamp } from '../src/engine/errors';
import { messageFromJson } from '../src/engine/message';
import { MAX_COUNTER, MAX_MILLIS, Timestamp, checkedMessageMillis } from '../src/engine/timestamp';

interface Case {
  why: string;
  text: unknown;
  timestamp: boolean;
  message: boolean;
  millis?: number;
}

const DATA = JSON.parse(
  readFileSync(join(import.meta.dirname, '..', '..', 'tests', 'vectors', 'timestamps.json'), 'utf8'),
) as { cases: Case[] };
const ROW = '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b';

describe('the timestamp grammar', () => {
  it('has at least 200 vectors', () => {
    expect(DATA.cases.length).toBeGreaterThanOrEqual(200);
  });

  it.each(DATA.cases.map((c) => [c.why, c] as const))('%s', (_why, c) => {
    if (c.timestamp) {
      const parsed = Timestamp.parse(c.text);
      expect(parsed.millis).toBe(c.millis);
      expect(parsed.toString()).toBe(c.text);
    } else {
      expect(() => Timestamp.parse(c.text)).toThrow(InvalidTimestamp);
    }
    const message = { dataset: 'products', row: ROW, column: 'name', value: 'x', timestamp: c.text };
    if (c.message) {
      expect(checkedMessageMillis(c.text)).toBe(c.millis);
      expect(messageFromJson(message).timestamp).toBe(c.text);
    } else {
      expect(() => checkedMessageMillis(c.text)).toThrow(InvalidTimestamp);
      expect(() => messageFromJson(message)).toThrow(InvalidMessage);
    }
  });
});

/** mulberry32: a seeded generator, so a failure repeats. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('format(parse(s)) == s', () => {
  const next = random(20261201);
  const hex = '0123456789abcdef';
  const alphabet = '0123456789ABCDEFabcdef-:.TZ tz\u0663\uff10';

  it('holds for 5000 random timestamps and 5000 near misses', () => {
    for (let i = 0; i < 5000; i++) {
      const node = Array.from({ length: 16 }, () => hex[Math.floor(next() * 16)]).join('');
      const ts = new Timestamp(Math.floor(next() * MAX_MILLIS), Math.floor(next() * (MAX_COUNTER + 1)), node);
      const text = ts.toString();
      expect(Timestamp.parse(text).toString()).toBe(text);
      const at = Math.floor(next() * text.length);
      const changed = text.slice(0, at) + alphabet.charAt(Math.floor(next() * alphabet.length)) + text.slice(at + 1);
      let parsed: Timestamp | null = null;
      try {
        parsed = Timestamp.parse(changed);
      } catch (exc) {
        expect(exc).toBeInstanceOf(InvalidTimestamp);
      }
      if (parsed !== null) expect(parsed.toString()).toBe(changed);
    }
  });
});
