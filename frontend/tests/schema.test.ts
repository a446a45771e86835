// The data model is said once, in crdt/schema.py; tests/vectors/schema.json is its copy as
// plain data (checked against the source by tests/crdt/test_schema_source.py). The engine's
// schema must name the same datasets, columns and types, statuses and bounds.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import {
  DATASETS,
  LINE_STATUSES,
  MAX_AVATAR,
  MONEY_MAX,
  PRE_ORDER_STATUSES,
  PRIORITIES,
  STATUS_TRANSITIONS,
  QUANTITY_MAX,
  SHORT_TEXT_MAX,
  TEXT_MAX,
  YEAR_MAX,
  YEAR_MIN,
  type ColumnType,
} from '../src/engine/schema';

const SOURCE = JSON.parse(
  readFileSync(join(import.meta.dirname, '..', '..', 'tests', 'vectors', 'schema.json'), 'utf8'),
) as {
  datasets: Record<string, Record<string, string>>;
  pre_order_statuses: string[];
  priorities: string[];
  status_transitions: Record<string, string[]>;
  line_statuses: string[];
  limits: Record<string, number>;
};

describe('the engine schema is crdt/schema.py', () => {
  it('has the same datasets, columns (in order) and column types', () => {
    const mine = Object.fromEntries(
      Object.entries(DATASETS as Record<string, Record<string, ColumnType>>).map(([ds, cols]) => [
        ds,
        Object.fromEntries(Object.entries(cols).map(([c, t]) => [c, t.name])),
      ]),
    );
    expect(mine).toEqual(SOURCE.datasets);
    for (const [ds, cols] of Object.entries(SOURCE.datasets)) {
      expect(Object.keys((DATASETS as Record<string, object>)[ds] ?? {})).toEqual(Object.keys(cols));
    }
  });

  it('has the same statuses and bounds', () => {
    expect([...PRE_ORDER_STATUSES]).toEqual(SOURCE.pre_order_statuses);
    expect([...PRIORITIES]).toEqual(SOURCE.priorities);
    expect(STATUS_TRANSITIONS).toEqual(SOURCE.status_transitions);
    expect([...LINE_STATUSES]).toEqual(SOURCE.line_statuses);
    expect({
      year_min: YEAR_MIN,
      year_max: YEAR_MAX,
      text: TEXT_MAX,
      short_text: SHORT_TEXT_MAX,
      avatar: MAX_AVATAR,
      quantity: QUANTITY_MAX,
      money: MONEY_MAX,
    }).toEqual(SOURCE.limits);
  });
});
