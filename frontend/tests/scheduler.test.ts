import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

import { SyncScheduler } from '../src/engine/scheduler';

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('sync scheduler', () => {
  it('runs on start and on the interval, one at a time, coalescing requests', async () => {
    let release: () => void = () => undefined;
    const run = vi.fn(() => new Promise<void>((resolve) => (release = resolve)));
    const s = new SyncScheduler({ run, intervalMs: 30_000 });
    s.start();
    expect(run).toHaveBeenCalledTimes(1);
    s.request('edit');
    s.request('live');
    expect(run).toHaveBeenCalledTimes(1);
    release();
    await vi.advanceTimersByTimeAsync(0);
    expect(run).toHaveBeenCalledTimes(2); // one more for the requests made meanwhile
    release();
    await vi.advanceTimersByTimeAsync(30_000);
    expect(run).toHaveBeenCalledTimes(3);
    release();
    s.stop();
  });

  it('backs off exponentially after failures, and an urgent reason skips the wait', async () => {
    const run = vi.fn(() => Promise.reject(new Error('offline')));
    const s = new SyncScheduler({ run, intervalMs: 1e9, random: () => 0.5 });
    s.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(s.failures).toBe(1);
    await vi.advanceTimersByTimeAsync(999);
    expect(run).toHaveBeenCalledTimes(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(run).toHaveBeenCalledTimes(2); // after 1 s
    await vi.advanceTimersByTimeAsync(1999);
    expect(run).toHaveBeenCalledTimes(2);
    s.request('edit'); // waits for the backoff
    expect(run).toHaveBeenCalledTimes(2);
    await vi.advanceTimersByTimeAsync(1);
    expect(run).toHaveBeenCalledTimes(3); // after 2 s more
    s.request('online'); // tries at once
    await vi.advanceTimersByTimeAsync(0);
    expect(run).toHaveBeenCalledTimes(4);
    expect(s.backoffMs(20)).toBe(60_000);
    s.stop();
  });

  it('honours retry-after and stops when told to', async () => {
    let n = 0;
    const run = vi.fn(() => Promise.reject(new Error(String(++n))));
    const s = new SyncScheduler({
      run,
      intervalMs: 1e9,
      random: () => 0.5,
      onFailure: (e) => ((e as Error).message === '1' ? { retryAfterMs: 10_000 } : { stop: true }),
    });
    s.start();
    await vi.advanceTimersByTimeAsync(9_999);
    expect(run).toHaveBeenCalledTimes(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(run).toHaveBeenCalledTimes(2);
    s.request('online');
    await vi.advanceTimersByTimeAsync(100_000);
    expect(run).toHaveBeenCalledTimes(2); // halted
    s.resume();
    await vi.advanceTimersByTimeAsync(0);
    expect(run).toHaveBeenCalledTimes(3);
    s.stop();
  });
});
