/**
 * The hybrid logical clock (mirrors crdt/hlc.py): `send` for a local event, `recv` to merge
 * a remote timestamp. Time is an argument, never read inside; a `Clock` is an immutable
 * value the caller persists with every batch of edits.
 */
import { ClockDriftError, CounterOverflow, DuplicateNodeError, InvalidTimestamp } from './errors';
import { MAX_COUNTER, Timestamp, isNodeId } from './timestamp';

export const DEFAULT_MAX_DRIFT_MS = 5 * 60 * 1000;

export interface Clock {
  readonly last: Timestamp;
  readonly maxDriftMs: number;
}

export interface ClockJson {
  timestamp: string;
  max_drift_ms: number;
}

export function newClock(node: string, maxDriftMs = DEFAULT_MAX_DRIFT_MS): Clock {
  if (!isNodeId(node)) {
    throw new InvalidTimestamp(`node must be 16 lower-case hex digits: ${JSON.stringify(node)}`);
  }
  return { last: new Timestamp(0, 0, node), maxDriftMs };
}

export function clockToJson(clock: Clock): ClockJson {
  return { timestamp: clock.last.toString(), max_drift_ms: clock.maxDriftMs };
}

export function clockFromJson(data: ClockJson): Clock {
  const drift = data.max_drift_ms;
  if (!Number.isInteger(drift) || drift < 0) {
    throw new InvalidTimestamp(`bad max_drift_ms: ${String(drift)}`);
  }
  return { last: Timestamp.parse(data.timestamp), maxDriftMs: drift };
}

/** Stamp a local event: the next clock and the timestamp to put on the event. */
export function send(clock: Clock, nowMs: number): [Clock, Timestamp] {
  const lOld = clock.last.millis;
  const cOld = clock.last.counter;
  const lNew = Math.max(lOld, nowMs);
  const cNew = lOld === lNew ? cOld + 1 : 0;
  if (lNew - nowMs > clock.maxDriftMs) throw new ClockDriftError(lNew, nowMs, clock.maxDriftMs);
  if (cNew > MAX_COUNTER) throw new CounterOverflow();
  const ts = new Timestamp(lNew, cNew, clock.last.node);
  return [{ last: ts, maxDriftMs: clock.maxDriftMs }, ts];
}

/** Merge a remote timestamp so every later local event is ordered after it. */
export function recv(clock: Clock, remote: Timestamp, nowMs: number): Clock {
  if (remote.node === clock.last.node) throw new DuplicateNodeError(clock.last.node);
  if (remote.millis - nowMs > clock.maxDriftMs) {
    throw new ClockDriftError(remote.millis, nowMs, clock.maxDriftMs);
  }
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
  if (lNew - nowMs > clock.maxDriftMs) throw new ClockDriftError(lNew, nowMs, clock.maxDriftMs);
  if (cNew > MAX_COUNTER) throw new CounterOverflow();
  return { last: new Timestamp(lNew, cNew, clock.last.node), maxDriftMs: clock.maxDriftMs };
}
