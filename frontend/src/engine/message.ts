/**
 * Messages: one field edit, `(dataset, row, column, value, timestamp)` (mirrors
 * crdt/message.py). `prev` is the timestamp of the value the writer saw when it made the
 * edit: not part of the message's identity, only read to classify conflicts.
 */
import { InvalidMessage, InvalidTimestamp } from './errors';
import { NODE_LENGTH, Timestamp, checkedMessageMillis } from './timestamp';

export type Scalar = string | number | boolean | null;

export interface Message {
  readonly dataset: string;
  readonly row: string;
  readonly column: string;
  readonly value: Scalar;
  readonly timestamp: string;
  readonly prev?: string;
}

export const MAX_STRING_VALUE = 256 * 1024;
const NAME = /^[a-z_][a-z0-9_]{0,62}$/;
const MAX_ROW = 128;
const KEYS = new Set(['dataset', 'row', 'column', 'value', 'timestamp', 'prev']);

export function messageNode(m: Message): string {
  return m.timestamp.slice(-NODE_LENGTH);
}

export function fieldKey(m: { dataset: string; row: string; column: string }): string {
  return `${m.dataset}\u0000${m.row}\u0000${m.column}`;
}

/** The wire form (no `prev` key when there is none). */
export function messageToJson(m: Message): Record<string, Scalar> {
  const out: Record<string, Scalar> = {
    dataset: m.dataset,
    row: m.row,
    column: m.column,
    value: m.value,
    timestamp: m.timestamp,
  };
  if (m.prev !== undefined) out.prev = m.prev;
  return out;
}

export function checkScalar(value: unknown): Scalar {
  if (value === null || typeof value === 'boolean') return value;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new InvalidMessage('number value must be finite');
    if (Math.abs(value) > 2 ** 53) {
      throw new InvalidMessage('integer value outside the exact range of a JSON number');
    }
    return value;
  }
  if (typeof value === 'string') {
    // Counted in code points, as Python's `len`: the same strings pass on both sides.
    if (value.length > MAX_STRING_VALUE && Array.from(value).length > MAX_STRING_VALUE) {
      throw new InvalidMessage(`string value longer than ${MAX_STRING_VALUE} characters`);
    }
    if (value.includes('\u0000')) {
      // No text column of a database (nor most replicas' stores) can hold NUL.
      throw new InvalidMessage('string values cannot contain NUL (U+0000)');
    }
    return value;
  }
  throw new InvalidMessage(`value must be a JSON scalar, got ${typeof value}`);
}

/** Validate the shape of one message; throw InvalidMessage with the reason. */
export function messageFromJson(data: unknown): Message {
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    throw new InvalidMessage('a message must be a JSON object');
  }
  const obj = data as Record<string, unknown>;
  const unknown = Object.keys(obj).filter((k) => !KEYS.has(k));
  if (unknown.length) throw new InvalidMessage(`unknown message keys: ${unknown.sort().slice(0, 5).join(', ')}`);
  const { dataset, row, column, timestamp, prev } = obj;
  for (const [label, name] of [
    ['dataset', dataset],
    ['column', column],
  ] as const) {
    if (typeof name !== 'string' || !NAME.test(name)) {
      throw new InvalidMessage(`${label} must be a lower-case identifier`);
    }
  }
  if (typeof row !== 'string' || row.length === 0 || row.length > MAX_ROW) {
    throw new InvalidMessage(`row must be a string of 1..${MAX_ROW} characters`);
  }
  if (!('value' in obj)) throw new InvalidMessage('value is required (null is a value)');
  const value = checkScalar(obj.value);
  try {
    checkedMessageMillis(timestamp);
    if (prev !== undefined && prev !== null) Timestamp.parse(prev);
  } catch (exc) {
    if (exc instanceof InvalidTimestamp) throw new InvalidMessage(exc.message);
    throw exc;
  }
  const out = {
    dataset: dataset as string,
    row,
    column: column as string,
    value,
    timestamp: timestamp as string,
  };
  return typeof prev === 'string' ? { ...out, prev } : out;
}
