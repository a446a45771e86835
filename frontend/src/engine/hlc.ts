/**
 * The hybrid logical clock (mirrors crdt/hlc.py): `send` for a local event, `recv` to merge
 * a remote timestamp. Time is an argument, never read inside; a `Clock` is an immutable
 * value the caller persists with every batch of edits.
 *
 * As in the Python core, neither operation ever refuses (DESIGN.md, "Clock"): a counter past
 * 0xFFFF carries into the next millisecond; there is no drift check (the server refuses a
 * message too far ahead when it arrives, so a replica only ever receives acceptable ones);
 * our own node's timestamp coming back moves the clock like any other.
 */
import { InvalidTimestamp } from './errors';
import { MAX_COUNTER, Timestamp, isNodeId } from './timestamp';

export interface Clock {
  readonly last: Timestamp;
}

export interface ClockJson {
  timestamp: string;
  /** Written by older versions; ignored. */
  max_drift_ms?: number;
}

export function newClock(node: string): Clock {
  if (!isNodeId(node)) {
    throw new InvalidTimestamp(`node must be 16 lower-case hex digits: ${JSON.stringify(node)}`);
  }
  return { last: new Timestamp(0, 0, node) };
}

export function clockToJson(clock: Clock): ClockJson {
  return { timestamp: clock.last.toString() };
}

export function clockFromJson(data: ClockJson): Clock {
  return { last: Timestamp.parse(data.timestamp) };
}

/** The timestamp (millis, counter), carrying a full counter into the next millisecond. */
function next(millis: number, counter: number, node: string): Timestamp {
  return counter > MAX_COUNTER ? new Timestamp(millis + 1, 0, node) : new Timestamp(millis, counter, node);
}

/** Stamp a local event: the next clock and the timestamp to put on the event. */
export function send(clock: Clock, nowMs: number): [Clock, Timestamp] {
  const lOld = clock.last.millis;
  const lNew = Math.max(lOld, nowMs);
  const ts = next(lNew, lOld === lNew ? clock.last.counter + 1 : 0, clock.last.node);
  return [{ last: ts }, ts];
}

/** Merge a remote timestamp so every later local event is ordered after it. */
export function recv(clock: Clock, remote: Timestamp, nowMs: number): Clock {
  const lOld = clock.last.millis;
  const cOld = clock.last.counter;
  const lMsg = remote.millis;
  const cMsg = remote.counter;
  const lNew = Math.max(lOld, nowMs, lMsg);
  let cNew: number;
  if (lNew === lOld && lNew === lMsg) cNew = Math.max(cOld, cMsg) + 1;
  else if (lNew === lOld) cNew = cOld + 1;
  else if (lNew === lMsg) cNew = cMsg + 1;
  else cNew = 0;
  return { last: next(lNew, cNew, clock.last.node) };
}
