// Field values on the shared vectors, tests/vectors/values.json (also run by
// tests/crdt/test_value_vectors.py): the engine accepts exactly the values the Python
// validator does, so nothing the server stores can make a browser refuse a message.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { InvalidMessage } from '../src/engine/errors';
import { messageFromJson } from '../src/engine/message';
import { validate } from '../src/engine/schema';

interface Case {
  dataset: string;
  column: string;
  value: unknown;
  valid: boolean;
  why: string;
}

const DATA = JSON.parse(
  readFileSync(join(import.meta.dirname, '..', '..', 'tests', 'vectors', 'values.json'), 'utf8'),
) as { row: string; cases: Case[] };
const STAMP = '2026-12-01T08:00:00.000Z-0000-0123456789abcdef';

describe('field values', () => {
  it.each(DATA.cases.map((c) => [`${c.column}: ${c.why}`, c] as const))('%s', (_name, c) => {
    const check = (): void => {
      validate(
        messageFromJson({ dataset: c.dataset, row: DATA.row, column: c.column, value: c.value, timestamp: STAMP }),
      );
    };
    if (c.valid) check();
    else expect(check).toThrow(InvalidMessage);
  });
});
