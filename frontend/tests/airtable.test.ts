import { describe, expect, it } from 'vitest';

import {
  canSeeAirtable,
  lastRunAt,
  plural,
  problemsView,
  relativeTime,
  scheduleText,
  stateOf,
  syncFailure,
  withRun,
  writtenBack,
  type AirtableConnector,
  type AirtableRun,
} from '../src/dashboard/airtable';
import { HttpError, NetworkError } from '../src/engine/sync';

function run(extra: Partial<AirtableRun> = {}): AirtableRun {
  return {
    run_id: 7,
    trigger: 'manual',
    status: 'ok',
    started_at: '2026-11-05T10:00:00+00:00',
    finished_at: '2026-11-05T10:00:02.500000+00:00',
    seconds: 2.5,
    records_read: 12,
    records_imported: 10,
    messages_written: 40,
    conflicts: 1,
    records_created: 3,
    records_updated: 2,
    records_deleted: 1,
    requests: 5,
    rate_limited: 0,
    retried: 0,
    problems: [],
    error: null,
    ...extra,
  };
}

function connector(extra: Partial<AirtableConnector> = {}): AirtableConnector {
  return {
    configured: true,
    base_id: 'appBase',
    table: 'Orders',
    schedule_s: 0,
    has_api_key: true,
    state: 'idle',
    last_error: null,
    last_run_at: null,
    last_run: null,
    ...extra,
  };
}

describe('the Airtable card: who and what', () => {
  it('is for admins only', () => {
    expect(canSeeAirtable('admin')).toBe(true);
    expect(canSeeAirtable('rep')).toBe(false);
    expect(canSeeAirtable(null)).toBe(false);
    expect(canSeeAirtable(undefined)).toBe(false);
  });

  it('counts written back as created + updated + deleted', () => {
    expect(writtenBack(run())).toBe(6);
    expect(writtenBack(run({ records_created: 0, records_updated: 0, records_deleted: 0 }))).toBe(0);
  });

  it('reads the state, idle before the first run', () => {
    expect(stateOf(connector())).toBe('idle');
    expect(stateOf(connector({ state: null }))).toBe('idle');
    expect(stateOf(connector({ state: 'error' }))).toBe('error');
  });

  it('describes the schedule', () => {
    expect(scheduleText(0)).toBe('runs only on demand');
    expect(scheduleText(null)).toBe('runs only on demand');
    expect(scheduleText(300)).toBe('runs every 5 min');
    expect(scheduleText(7200)).toBe('runs every 2 h');
    expect(scheduleText(45)).toBe('runs every 45 s');
  });

  it('pluralizes counts', () => {
    expect(plural(0, 'request')).toBe('0 requests');
    expect(plural(1, 'request')).toBe('1 request');
    expect(plural(7, 'change')).toBe('7 changes');
  });

  it('takes the last run time from the run, else from the connector', () => {
    expect(lastRunAt(connector())).toBeNull();
    expect(lastRunAt(connector({ last_run_at: '2026-11-05T09:00:00Z' }))).toBe('2026-11-05T09:00:00Z');
    expect(lastRunAt(connector({ last_run_at: '2026-11-05T09:00:00Z', last_run: run() }))).toBe(
      '2026-11-05T10:00:02.500000+00:00',
    );
    expect(lastRunAt(connector({ last_run: run({ finished_at: null }) }))).toBe('2026-11-05T10:00:00+00:00');
  });
});

describe('relative times', () => {
  const now = Date.parse('2026-11-05T12:00:00Z');

  it('says just now, minutes, hours and days ago', () => {
    expect(relativeTime('2026-11-05T11:59:30Z', now)).toBe('just now');
    expect(relativeTime('2026-11-05T11:59:00Z', now)).toBe('1 minute ago');
    expect(relativeTime('2026-11-05T11:35:00+00:00', now)).toBe('25 minutes ago');
    expect(relativeTime('2026-11-05T09:00:00Z', now)).toBe('3 hours ago');
    expect(relativeTime('2026-11-04T11:00:00Z', now)).toBe('yesterday');
    expect(relativeTime('2026-10-29T12:00:00Z', now)).toBe('7 days ago');
  });

  it('copes with a clock ahead of this device and with garbage', () => {
    expect(relativeTime('2026-11-05T12:00:20Z', now)).toBe('just now');
    expect(relativeTime('2026-11-05T12:10:00Z', now)).toBe('in 10 minutes');
    expect(relativeTime('not a time', now)).toBe('not a time');
  });
});

describe('problems', () => {
  it('lists a few openly and folds many', () => {
    expect(problemsView([])).toEqual({ collapsed: false, title: '0 problems' });
    expect(problemsView(['a'])).toEqual({ collapsed: false, title: '1 problem' });
    expect(problemsView(['a', 'b', 'c'])).toEqual({ collapsed: false, title: '3 problems' });
    expect(problemsView(['a', 'b', 'c', 'd'])).toEqual({ collapsed: true, title: '4 problems' });
  });

  it('says when the server stopped counting', () => {
    const many = Array.from({ length: 50 }, (_, i) => `problem ${i}`);
    expect(problemsView(many)).toEqual({ collapsed: true, title: '50+ problems (the first 50 are listed)' });
  });
});

describe('a failed "Sync now"', () => {
  it('is the run itself when the server answers 502 with the run', () => {
    const failed = run({
      status: 'error',
      error: { code: 'airtable_auth_failed', message: 'Airtable refused the API key' },
    });
    const f = syncFailure(
      new HttpError(502, { code: 'airtable_auth_failed', message: 'Airtable refused the API key', run: failed }),
    );
    expect(f).toEqual({ message: 'Airtable refused the API key', run: failed, unreachable: false });
  });

  it('is "cannot be reached" for a 502 without a run (a proxy) and for the network', () => {
    expect(syncFailure(new HttpError(502, null))).toEqual({
      message: 'the server cannot be reached',
      run: null,
      unreachable: true,
    });
    expect(syncFailure(new HttpError(504, { message: 'gateway' })).unreachable).toBe(true);
    expect(syncFailure(new NetworkError('offline'))).toEqual({
      message: 'the server cannot be reached',
      run: null,
      unreachable: true,
    });
  });

  it('explains the other refusals', () => {
    expect(
      syncFailure(new HttpError(404, { code: 'not_found', message: 'no Airtable connector; PUT its settings first' }))
        .message,
    ).toBe('no Airtable connector; PUT its settings first');
    expect(syncFailure(new HttpError(401, { code: 'unauthorized', message: 'x' })).message).toMatch(
      /session has expired/,
    );
    expect(syncFailure(new HttpError(403, { code: 'forbidden', message: 'x' })).message).toMatch(/only admins/);
    expect(syncFailure(new Error('boom'))).toEqual({ message: 'boom', run: null, unreachable: false });
  });
});

describe('the card right after a run', () => {
  it('turns ok and forgets the last error after a good run', () => {
    const before = connector({ state: 'error', last_error: 'old failure' });
    const after = withRun(before, run());
    expect(after.state).toBe('ok');
    expect(after.last_error).toBeNull();
    expect(after.last_run?.run_id).toBe(7);
    expect(after.last_run_at).toBe('2026-11-05T10:00:02.500000+00:00');
    expect(after.base_id).toBe('appBase');
  });

  it('turns error with the run’s message after a failed run', () => {
    const failed = run({ status: 'error', error: { code: 'airtable_not_found', message: "table 'Nope' not found" } });
    const after = withRun(connector({ state: 'ok' }), failed);
    expect(after.state).toBe('error');
    expect(after.last_error).toBe("table 'Nope' not found");
  });
});
