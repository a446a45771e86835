import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

import { ServerProbe } from '../src/engine/scheduler';
import { feedbackFor, lastSyncText, waitingWords } from '../src/ui/syncText';

describe('the sync bar words', () => {
  const now = new Date(2026, 11, 5, 9, 30);

  it('shows the time alone today, with the date another day, with the year another year', () => {
    expect(lastSyncText(null, now, 'en-GB')).toBe('Not synced yet');
    expect(lastSyncText(new Date(2026, 11, 5, 8, 7).getTime(), now, 'en-GB')).toBe('Synced 08:07');
    expect(lastSyncText(new Date(2026, 11, 2, 14, 5).getTime(), now, 'en-GB')).toBe('Synced 2 Dec 14:05');
    expect(lastSyncText(new Date(2025, 11, 31, 23, 59).getTime(), now, 'en-GB')).toBe('Synced 31 Dec 2025 23:59');
  });

  it('counts edits in words', () => {
    expect(waitingWords(1)).toBe('edit waiting');
    expect(waitingWords(0)).toBe('edits waiting');
    expect(waitingWords(3)).toBe('edits waiting');
  });

  it('says what a "Sync now" tap led to, from the status written after it', () => {
    const asked = 1000;
    expect(feedbackFor(asked, { phase: 'idle', at: 999 }, true)).toBe('syncing');
    expect(feedbackFor(asked, { phase: 'syncing', at: 1001 }, true)).toBe('syncing');
    expect(feedbackFor(asked, { phase: 'idle', at: 1001 }, true)).toBe('done');
    expect(feedbackFor(asked, { phase: 'offline', at: 1001 }, true)).toBe('offline');
    expect(feedbackFor(asked, { phase: 'idle', at: 999 }, false)).toBe('offline');
    expect(feedbackFor(asked, { phase: 'error', at: 1001 }, true)).toBe('error');
    expect(feedbackFor(asked, { phase: 'signed_out', at: 1001 }, true)).toBe('signed_out');
  });
});

describe('server probe', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('probes at once, then every interval, one at a time, and reports nothing once stopped', async () => {
    const answers = [false, false, true];
    let slow: (() => void) | null = null;
    const check = vi.fn(async () => {
      const answer = answers.shift();
      if (answer === undefined) {
        await new Promise<void>((resolve) => (slow = resolve));
        return true;
      }
      return answer;
    });
    const results: boolean[] = [];
    const probe = new ServerProbe({ check, onResult: (a) => results.push(a), intervalMs: 3000 });
    probe.start();
    probe.start(); // already running: no second timer
    await vi.advanceTimersByTimeAsync(0);
    expect(results).toEqual([false]);
    await vi.advanceTimersByTimeAsync(3000);
    expect(results).toEqual([false, false]);
    await vi.advanceTimersByTimeAsync(3000);
    expect(results).toEqual([false, false, true]);
    await vi.advanceTimersByTimeAsync(3000); // this one hangs
    await vi.advanceTimersByTimeAsync(3000); // not a second one meanwhile
    expect(check).toHaveBeenCalledTimes(4);
    probe.stop();
    expect(probe.running).toBe(false);
    (slow as (() => void) | null)?.();
    await vi.advanceTimersByTimeAsync(10_000);
    expect(results).toEqual([false, false, true]);
    expect(check).toHaveBeenCalledTimes(4);
  });

  it('counts a failed check as no answer', async () => {
    const results: boolean[] = [];
    const probe = new ServerProbe({
      check: () => Promise.reject(new TypeError('Failed to fetch')),
      onResult: (a) => results.push(a),
    });
    probe.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(results).toEqual([false]);
    probe.stop();
  });
});
