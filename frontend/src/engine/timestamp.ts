/**
 * Hybrid-logical-clock timestamps in the exact string form of `@actual-app/crdt` v3 (and of
 * crdt/timestamp.py): `2026-11-23T06:00:00.005Z-001A-abcdef0123456789`. Fixed width, so text
 * order is timestamp order. Only the canonical spelling parses: the string is the message's
 * primary key. The grammar is DESIGN.md's ("Clock"); this parser and the Python one accept
 * exactly the same strings (shared vectors: tests/vectors/timestamps.json).
 */
import murmurhash from 'murmurhash';

import { InvalidTimestamp } from './errors';

export const MAX_COUNTER = 0xffff;
export const NODE_LENGTH = 16;
/** Year 10000 would need JavaScript's six-digit year form; nothing valid reaches it. */
export const MAX_MILLIS = 253402300800000 - 1;
/** The trie's span (1997-04-13 .. 2051-11-05): a message's timestamp must lie inside it. */
export const MESSAGE_MIN_MILLIS = 3 ** 15 * 60_000;
export const MESSAGE_MAX_MILLIS = 3 ** 16 * 60_000 - 1;

const PATTERN = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z)-([0-9A-F]{4})-([0-9a-f]{16})$/;
const NODE_PATTERN = /^[0-9a-f]{16}$/;

export function isoMillis(millis: number): string {
  return new Date(millis).toISOString();
}

export function isNodeId(node: string): boolean {
  return NODE_PATTERN.test(node);
}

/** murmur3 32-bit, seed 0, unsigned: the reference's `Timestamp.hash()`. */
export function hashTimestamp(text: string): number {
  return murmurhash.v3(text, 0);
}

export class Timestamp {
  constructor(
    readonly millis: number,
    readonly counter: number,
    readonly node: string,
  ) {
    if (!Number.isInteger(millis) || millis < 0 || millis > MAX_MILLIS) {
      throw new InvalidTimestamp(`millis out of range: ${millis}`);
    }
    if (!Number.isInteger(counter) || counter < 0 || counter > MAX_COUNTER) {
      throw new InvalidTimestamp(`counter out of range: ${counter}`);
    }
    if (!isNodeId(node)) {
      throw new InvalidTimestamp(`node must be 16 lower-case hex digits: ${JSON.stringify(node)}`);
    }
  }

  toString(): string {
    const counter = this.counter.toString(16).toUpperCase().padStart(4, '0');
    return `${isoMillis(this.millis)}-${counter}-${this.node}`;
  }

  hash(): number {
    return hashTimestamp(this.toString());
  }

  static parse(text: unknown): Timestamp {
    if (typeof text !== 'string') {
      throw new InvalidTimestamp(`timestamp must be a string, got ${typeof text}`);
    }
    const m = PATTERN.exec(text);
    if (m === null) {
      throw new InvalidTimestamp(`not a timestamp: ${JSON.stringify(text.slice(0, 60))}`);
    }
    const [, iso = '', counter = '', node = ''] = m;
    const millis = Date.parse(iso);
    // Date.parse accepts e.g. Feb 30 in some engines: the round trip rejects it.
    if (Number.isNaN(millis) || millis < 0 || isoMillis(millis) !== iso) {
      throw new InvalidTimestamp(`no such date or time: ${JSON.stringify(text.slice(0, 60))}`);
    }
    return new Timestamp(millis, parseInt(counter, 16), node);
  }
}

/** Physical millis of a canonical timestamp string. */
export function millisOf(text: string): number {
  return Timestamp.parse(text).millis;
}

/** The node id of a canonical timestamp string (its last 16 characters). */
export function nodeOf(text: string): string {
  return text.slice(-NODE_LENGTH);
}

/** The smallest timestamp string at `millis`: a lower bound for range scans. */
export function minTimestampAt(millis: number): string {
  return `${isoMillis(millis)}-0000-0000000000000000`;
}

/** Physical millis of a message's timestamp: canonical and inside the trie's span. */
export function checkedMessageMillis(text: unknown): number {
  const millis = Timestamp.parse(text).millis;
  if (millis < MESSAGE_MIN_MILLIS || millis > MESSAGE_MAX_MILLIS) {
    throw new InvalidTimestamp('timestamp outside 1997-04-13 .. 2051-11-05');
  }
  return millis;
}
