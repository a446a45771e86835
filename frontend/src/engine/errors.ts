/**
 * Every error the engine raises, in one place (mirrors crdt/errors.py).
 *
 *     CrdtError
 *     ├── InvalidTimestamp      a string that is not a canonical timestamp
 *     └── InvalidMessage        a message that fails validation
 *
 * The clock never refuses (hlc.ts), so it has no errors of its own.
 *
 * `code` is the stable machine-readable name (the same as the Python core's).
 */
export class CrdtError extends Error {
  readonly code: string = 'crdt_error';
}

export class InvalidTimestamp extends CrdtError {
  override readonly code: string = 'invalid_timestamp';
}

export class InvalidMessage extends CrdtError {
  override readonly code: string = 'invalid_message';
}
