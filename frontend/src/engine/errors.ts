/**
 * Every error the engine raises, in one place (mirrors crdt/errors.py).
 *
 *     CrdtError
 *     ├── InvalidTimestamp      a string that is not a canonical timestamp
 *     ├── ClockError            the clock refused to move
 *     │   ├── ClockDriftError   a timestamp too far ahead of physical time
 *     │   ├── CounterOverflow   more than 0xFFFF events in one millisecond
 *     │   └── DuplicateNodeError  a remote timestamp carries our own node id
 *     └── InvalidMessage        a message that fails validation
 *
 * `code` is the stable machine-readable name (the same as the Python core's).
 */
export class CrdtError extends Error {
  readonly code: string = 'crdt_error';
}

export class InvalidTimestamp extends CrdtError {
  override readonly code: string = 'invalid_timestamp';
}

export class ClockError extends CrdtError {
  override readonly code: string = 'clock_error';
}

export class ClockDriftError extends ClockError {
  override readonly code = 'clock_drift';
  constructor(
    readonly timestampMillis: number,
    readonly nowMillis: number,
    readonly maxDriftMs: number,
  ) {
    super(`timestamp is ${timestampMillis - nowMillis} ms ahead of physical time (maximum drift ${maxDriftMs} ms)`);
  }
}

export class CounterOverflow extends ClockError {
  override readonly code = 'counter_overflow';
  constructor() {
    super('timestamp counter overflow (more than 65535 events in one millisecond)');
  }
}

export class DuplicateNodeError extends ClockError {
  override readonly code = 'duplicate_node';
  constructor(readonly node: string) {
    super(`remote timestamp carries this replica's own node id ${node}`);
  }
}

export class InvalidMessage extends CrdtError {
  override readonly code: string = 'invalid_message';
}
