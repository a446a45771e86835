/**
 * Diagnostics (linked from the sync bar, for every user): this device's replica beside the
 * server's, a merkle comparison that names what differs, and the device export the CLI
 * `python -m sync_server diff` reads. The logic is in app/diagnostics.ts.
 */
import { useLiveQuery } from 'dexie-react-hooks';
import { useEffect, useId, useRef, useState, type ReactNode } from 'react';

import {
  buildExport,
  describeMessage,
  descriptionsOf,
  exportName,
  gzipJson,
  heldMessages,
  nodesToName,
  readDevice,
  registersOf,
  rowIndex,
  splitRanges,
  timeline,
  trimTrie,
  TRIM_DEPTH,
  type CompareAnswer,
  type DescribeContext,
  type RangeDiff,
  type ServerDescription,
  type WireMessage,
} from '../app/diagnostics';
import { service } from '../app/service';
import type { Trie } from '../engine/merkle';
import { HttpError, NetworkError } from '../engine/sync';
import type { SyncStatus } from '../engine/store';
import { downloadBlob } from './download';
import { useSession, waitingEdits } from './hooks';
import './diagnostics.css';

/** GET /debug/merkle?depth=0. */
interface ServerRoot {
  count: number;
  root_hash: number;
}

interface Comparison {
  answer: CompareAnswer;
  ranges: RangeDiff[];
  /** The server's words for its messages, by timestamp. */
  words: ReadonlyMap<string, ServerDescription>;
  ctx: DescribeContext;
  localRoot: number;
  localCount: number;
}

function problem(e: unknown): string {
  if (e instanceof NetworkError) return 'The server cannot be reached: this needs a connection.';
  if (e instanceof HttpError) {
    if (e.status === 403) return 'The server does not let your account read its side of the comparison.';
    return `The server answered ${e.status}: ${HttpError.describe(e.body)}`;
  }
  return e instanceof Error ? e.message : String(e);
}

function dateTime(ms: number): string {
  return new Date(ms).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
}

function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(1)} KB`;
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MB`;
  return `${(n / 1024 ** 3).toFixed(2)} GB`;
}

/** The server's root hash and message count (GET /debug/merkle, the root alone). */
async function fetchServerRoot(): Promise<{ root: ServerRoot | null; error: string | null }> {
  try {
    const view = await service.api<ServerRoot>('GET', '/debug/merkle?depth=0');
    return { root: { count: view.count, root_hash: view.root_hash }, error: null };
  } catch (e) {
    return { root: null, error: problem(e) };
  }
}

/** The device's figures, live (they change as it syncs). */
function useDeviceFigures() {
  return useLiveQuery(async () => {
    const replica = service.replica;
    const [hash, count] = await replica.root();
    return {
      clock: (await replica.clock()).last.toString(),
      offset: await replica.offset(),
      pulledThrough: await replica.pulledThrough(),
      status: await replica.getMeta<SyncStatus>('status'),
      waiting: await waitingEdits(),
      outbox: await replica.outboxCount(),
      logged: await service.db.messages.count(),
      refused: await service.db.refused.count(),
      hash,
      count,
    };
  }, []);
}

function useStorage(): StorageEstimate | null {
  const [estimate, setEstimate] = useState<StorageEstimate | null>(null);
  useEffect(() => {
    if (!('storage' in navigator) || !('estimate' in navigator.storage)) return;
    void navigator.storage.estimate().then(setEstimate, () => undefined);
  }, []);
  return estimate;
}

export default function DiagnosticsPage(): ReactNode {
  const session = useSession();
  const figures = useDeviceFigures();
  const storage = useStorage();
  const [server, setServer] = useState<ServerRoot | null>(null);
  const [serverError, setServerError] = useState<string | null>(null);
  const [comparing, setComparing] = useState(false);
  const [comparison, setComparison] = useState<Comparison | null>(null);
  const [compareError, setCompareError] = useState<string | null>(null);
  const [exporting, setExporting] = useState(false);
  const [exportError, setExportError] = useState<string | null>(null);

  const loadServer = (): Promise<void> =>
    fetchServerRoot().then((r) => {
      setServer(r.root);
      setServerError(r.error);
    });
  useEffect(() => {
    let live = true;
    void fetchServerRoot().then((r) => {
      if (!live) return;
      setServer(r.root);
      setServerError(r.error);
    });
    return () => {
      live = false;
    };
  }, []);

  const compare = async (): Promise<void> => {
    setComparing(true);
    setCompareError(null);
    try {
      const state = await readDevice(service.replica);
      // Only the subtrees that differ from the server's, in full (see trimTrie).
      const top = await service.api<{ trie: Trie }>('GET', `/debug/merkle?depth=${TRIM_DEPTH}`);
      const trie = trimTrie(state.trie.toJson(), top.trie);
      const answer = await service.api<CompareAnswer>('POST', '/debug/merkle/compare', { trie });
      const held = heldMessages(state.messages, registersOf(state.rows));
      const ranges = splitRanges(answer, held, state.trie, new Set(state.refused));
      // Who made the messages only this device holds, when another device did: the server
      // knows whose each node is.
      const nodeNames = new Map(Object.entries(answer.node_names ?? {}));
      const nodes = nodesToName(ranges, state.node)
        .filter((n) => !nodeNames.has(n))
        .slice(0, 1000); // the server names at most 1000 per request
      if (nodes.length && answer.node_names !== undefined) {
        // Best effort: without names those messages are "another device"'s.
        const named = await service
          .api<CompareAnswer>('POST', '/debug/merkle/compare', { trie, nodes })
          .catch(() => null);
        for (const [n, name] of Object.entries(named?.node_names ?? {})) nodeNames.set(n, name);
      }
      const user = state.user ? { id: state.user.id, name: state.user.display_name } : null;
      setComparison({
        answer,
        ranges,
        words: descriptionsOf(answer),
        ctx: { rows: rowIndex(state.rows), node: state.node, user, nodeNames },
        localRoot: state.trie.hash(),
        localCount: state.trie.count(),
      });
      if (answer.root_hash !== undefined && answer.count !== undefined) {
        setServer({ root_hash: answer.root_hash, count: answer.count });
      } else void loadServer();
    } catch (e) {
      setComparison(null);
      setCompareError(problem(e));
    } finally {
      setComparing(false);
    }
  };

  const exportDevice = async (): Promise<void> => {
    setExporting(true);
    setExportError(null);
    try {
      const state = await readDevice(service.replica);
      const now = new Date();
      const doc = buildExport(state, window.location.origin, now);
      downloadBlob(exportName(state.node, now), await gzipJson(doc));
    } catch (e) {
      setExportError(problem(e));
    } finally {
      setExporting(false);
    }
  };

  const user = session?.user;
  const lastSync = figures?.status?.lastSyncAt ?? null;
  return (
    <section className="page diagnostics-page" data-testid="diagnostics-page">
      <h1>Diagnostics</h1>
      <p className="muted">
        What this device holds, beside what the server holds. Compare them to see whether they agree and, if not,
        exactly which edits one side has and the other lacks.
      </p>

      <div className="card diag-card">
        <h2>This device</h2>
        <dl className="diag-facts">
          <dt>Device id</dt>
          <dd className="mono" data-testid="diag-node">
            {service.replica.node}
          </dd>
          <dt>User</dt>
          <dd data-testid="diag-user">{user ? `${user.display_name} (${user.role})` : '…'}</dd>
          <dt>Device clock</dt>
          <dd className="mono" data-testid="diag-clock">
            {figures?.clock ?? '…'}
          </dd>
          <dt>Server offset</dt>
          <dd data-testid="diag-offset">{figures ? `${figures.offset >= 0 ? '+' : ''}${figures.offset} ms` : '…'}</dd>
          <dt>Last sync</dt>
          <dd data-testid="diag-last-sync">{lastSync === null ? 'never' : dateTime(lastSync)}</dd>
          <dt>Sequence watermark</dt>
          <dd data-testid="diag-watermark">{figures?.pulledThrough ?? '…'}</dd>
          <dt>Unsynced edits</dt>
          <dd data-testid="diag-unsynced" data-messages={figures?.outbox ?? 0}>
            {figures
              ? `${figures.waiting} edit${figures.waiting === 1 ? '' : 's'} (${figures.outbox} message${
                  figures.outbox === 1 ? '' : 's'
                })${figures.refused ? `, ${figures.refused} refused` : ''}`
              : '…'}
          </dd>
          <dt>Messages kept in the log</dt>
          <dd data-testid="diag-logged">{figures?.logged ?? '…'}</dd>
          <dt>Storage used</dt>
          <dd data-testid="diag-storage">
            {storage?.usage === undefined
              ? 'unknown'
              : `${bytes(storage.usage)}${storage.quota ? ` of ${bytes(storage.quota)}` : ''}`}
          </dd>
        </dl>
      </div>

      <div className="card diag-card">
        <h2>Merkle trie</h2>
        <table className="diag-roots">
          <thead>
            <tr>
              <th scope="col" />
              <th scope="col">This device</th>
              <th scope="col">Server</th>
            </tr>
          </thead>
          <tbody>
            <tr>
              <th scope="row">Root hash</th>
              <td className="mono" data-testid="local-root">
                {figures?.hash ?? '…'}
              </td>
              <td className="mono" data-testid="server-root">
                {server?.root_hash ?? '…'}
              </td>
            </tr>
            <tr>
              <th scope="row">Messages</th>
              <td data-testid="local-count">{figures?.count ?? '…'}</td>
              <td data-testid="server-count">{server?.count ?? '…'}</td>
            </tr>
          </tbody>
        </table>
        {serverError ? (
          <p className="error" role="alert" data-testid="server-root-error">
            {serverError}
          </p>
        ) : null}
        <div className="row-actions diag-actions">
          <button
            type="button"
            className="btn primary"
            data-testid="diag-compare"
            disabled={comparing}
            aria-busy={comparing}
            onClick={() => void compare()}
          >
            {comparing ? 'Comparing…' : 'Compare with server'}
          </button>
          <button
            type="button"
            className="btn ghost"
            data-testid="diag-export"
            disabled={exporting}
            aria-busy={exporting}
            onClick={() => void exportDevice()}
          >
            {exporting ? 'Exporting…' : 'Export this device'}
          </button>
        </div>
        {exportError ? (
          <p className="error" role="alert" data-testid="export-error">
            {exportError}
          </p>
        ) : null}
        <p className="muted diag-note">
          The export is one file (gzip-compressed JSON) with this device’s trie, message log and values: what you can
          already see in the app, nothing more (no password, no session).
        </p>
      </div>

      <p className="sr-only" role="status">
        {comparing
          ? 'Comparing…'
          : compareError
            ? compareError
            : comparison
              ? comparison.answer.in_sync
                ? 'In sync.'
                : `Not in sync: ${comparison.ranges.length} divergent ranges.`
              : ''}
      </p>
      {compareError ? (
        <p className="error" data-testid="compare-error">
          {compareError}
        </p>
      ) : null}
      {comparison ? <ComparisonView comparison={comparison} /> : null}
    </section>
  );
}

function ComparisonView(props: { comparison: Comparison }): ReactNode {
  const { answer, ranges, words, ctx, localRoot, localCount } = props.comparison;
  if (answer.in_sync) {
    return (
      <div className="card diag-card diag-in-sync" data-testid="compare-result" data-in-sync="true">
        <h2>In sync</h2>
        <p>
          This device and the server count the same {localCount} message{localCount === 1 ? '' : 's'} (root hash{' '}
          <span className="mono">{localRoot}</span>).
        </p>
      </div>
    );
  }
  const serverOnly = ranges.reduce((n, r) => n + r.serverOnly.length, 0);
  const deviceOnly = ranges.reduce((n, r) => n + r.deviceOnly.length, 0);
  return (
    <div className="card diag-card diag-out-of-sync" data-testid="compare-result" data-in-sync="false">
      <h2>Not in sync</h2>
      <p data-testid="compare-summary">
        {ranges.length} divergent range{ranges.length === 1 ? '' : 's'}: {serverOnly} message
        {serverOnly === 1 ? '' : 's'} only on the server, {deviceOnly} only on this device.
        {answer.truncated ? ' The server listed only its first messages in these ranges.' : ''}
      </p>
      <Timeline ranges={ranges} />
      {ranges.map((r) => (
        <RangeView key={r.start} range={r} ctx={ctx} words={words} />
      ))}
    </div>
  );
}

const LABEL_W = 160;
const ROW_H = 40;
const TOP = 30;

/** The divergent minutes on a day-by-hour grid: one row per day, 24 hour columns. */
function Timeline(props: { ranges: readonly RangeDiff[] }): ReactNode {
  const id = useId();
  const scroller = useRef<HTMLDivElement>(null);
  const { days, more } = timeline(props.ranges);
  // A grid wider than the screen (a phone) starts scrolled to its first mark.
  useEffect(() => {
    const box = scroller.current;
    const mark = box?.querySelector('.mark');
    if (!box || !mark) return;
    const m = mark.getBoundingClientRect();
    const b = box.getBoundingClientRect();
    if (m.right > b.right || m.left < b.left) box.scrollLeft += m.left - b.left - b.width / 3;
  }, [props.ranges]);
  const height = TOP + days.length * ROW_H;
  const hhmm = (minute: number): string =>
    `${String(Math.floor(minute / 60)).padStart(2, '0')}:${String(minute % 60).padStart(2, '0')}`;
  const summary = days
    .map((d) => `${d.day}: ${d.marks.map(([a, b]) => `${hhmm(a)}–${hhmm(b)}`).join(', ')}`)
    .join('; ');
  return (
    <figure className="diag-timeline">
      {/* A region that scrolls sideways on purpose (`table-wrap`): on a phone the grid keeps
          a readable size. */}
      <div className="table-wrap diag-timeline-scroll" ref={scroller}>
        <svg
          data-testid="timeline"
          viewBox={`0 0 ${LABEL_W + 1440} ${height}`}
          preserveAspectRatio="xMinYMin meet"
          role="img"
          aria-labelledby={`${id}-t ${id}-d`}
        >
          <title id={`${id}-t`}>Divergent minutes by day and hour</title>
          <desc id={`${id}-d`}>{summary}</desc>
          {Array.from({ length: 25 }, (_, h) => (
            <g key={h} aria-hidden="true">
              <line
                className={h % 6 === 0 ? 'grid major' : 'grid'}
                x1={LABEL_W + h * 60}
                x2={LABEL_W + h * 60}
                y1={TOP - 4}
                y2={height}
              />
              {h % 3 === 0 && h < 24 ? (
                <text className="hour" x={LABEL_W + h * 60 + 4} y={TOP - 8}>
                  {String(h).padStart(2, '0')}
                </text>
              ) : null}
            </g>
          ))}
          {days.map((d, i) => (
            <g key={d.day} data-testid="timeline-day" data-day={d.day}>
              <text className="day" x={0} y={TOP + i * ROW_H + ROW_H / 2 + 8}>
                {d.day}
              </text>
              <rect className="lane" x={LABEL_W} y={TOP + i * ROW_H + 3} width={1440} height={ROW_H - 6} />
              {d.marks.map(([a, b]) => (
                <rect
                  key={a}
                  className="mark"
                  data-testid="timeline-mark"
                  data-from={new Date(d.start + a * 60_000).toISOString()}
                  data-to={new Date(d.start + b * 60_000).toISOString()}
                  x={LABEL_W + a}
                  y={TOP + i * ROW_H + 3}
                  width={Math.max(b - a, 6)}
                  height={ROW_H - 6}
                >
                  <title>{`${d.day} ${hhmm(a)}–${hhmm(b)}`}</title>
                </rect>
              ))}
            </g>
          ))}
        </svg>
      </div>
      {more > 0 ? (
        <figcaption className="muted">
          and about {more} more day{more === 1 ? '' : 's'}
        </figcaption>
      ) : null}
    </figure>
  );
}

function RangeView(props: {
  range: RangeDiff;
  ctx: DescribeContext;
  words: ReadonlyMap<string, ServerDescription>;
}): ReactNode {
  const { range, ctx, words } = props;
  return (
    <section
      className="diag-range"
      data-testid="diff-range"
      data-start={new Date(range.start).toISOString()}
      data-end={new Date(range.end).toISOString()}
    >
      <h3>
        {dateTime(range.start)} – {dateTime(range.end)}
      </h3>
      {range.uncertain ? (
        <p className="muted" data-testid="range-uncertain">
          Some messages here could not be told apart exactly: the lists may name more than differs.
        </p>
      ) : null}
      {range.beyond ? (
        <p className="muted" data-testid="range-beyond">
          The server listed its messages here only up to a point: {range.beyond} of this device’s messages after it were
          not compared.
        </p>
      ) : null}
      <MessageList
        heading="Only on the server (this device lacks)"
        testId="server-only"
        list={range.serverOnly}
        ctx={ctx}
        words={words}
      />
      <MessageList heading="Only on this device" testId="device-only" list={range.deviceOnly} ctx={ctx} words={words} />
      {range.countedHere.length ? (
        <p className="muted" data-testid="counted-here">
          {range.countedHere.length} more of the server’s messages here are counted by this device without being kept
          (values replaced since): they agree.
        </p>
      ) : null}
    </section>
  );
}

/** One side's messages in a range, under its heading: each in human terms (record, field,
 * value, who, when) with its timestamp, or "None.". */
function MessageList(props: {
  heading: string;
  testId: string;
  list: readonly WireMessage[];
  ctx: DescribeContext;
  words: ReadonlyMap<string, ServerDescription>;
}): ReactNode {
  const { heading, testId, list, ctx, words } = props;
  return (
    <>
      <h4>{heading}</h4>
      {list.length ? (
        <ul className="diag-messages" data-testid={testId} data-count={list.length}>
          {list.map((m) => {
            const d = describeMessage(ctx, m, words.get(m.timestamp));
            return (
              <li key={m.timestamp} data-testid="diff-message" data-timestamp={m.timestamp} data-column={m.column}>
                <strong>{d.record}</strong>: {d.field} <span className="diag-value">{d.value}</span>
                <br />
                <span className="muted">
                  by {d.who}, {dateTime(d.when)}
                </span>
                <br />
                <span className="mono muted diag-ts">{m.timestamp}</span>
              </li>
            );
          })}
        </ul>
      ) : (
        <p className="muted" data-testid={testId} data-count={0}>
          None.
        </p>
      )}
    </>
  );
}
