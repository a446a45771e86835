/**
 * The client's side of a sync as one pure step (mirrors crdt/rounds.py, checked against it
 * by the shared cross-language vectors): given what the server answered to a round and what
 * the client holds, what the next round sends, or that the two are in sync. `sync.ts` does
 * the I/O around it.
 *
 * Pushed next: the next outbox page, what the client holds in `push` ranges (the server has
 * nothing there), and what it holds in `send` ranges beyond what the server's pages brought
 * and what this round pushed (the server's copy of those ranges is now known exactly), of
 * its own node only. The next summary refines the `descend` ranges, or restarts from the
 * frontier when there are none but the roots differ. Done when nothing is left to push or
 * descend into and both roots (hash and count) are equal, or when what still differs is
 * other nodes' messages the server lacks.
 */
import type { Message } from './message';
import { nodeOf } from './timestamp';

export const MAX_ROUNDS = 40;

/** The server's answer to one round, its cursor pages folded in. */
export interface Answer {
  readonly send: readonly string[];
  readonly push: readonly string[];
  readonly descend: readonly string[];
  readonly root: readonly [number, number];
  /** Timestamps the client holds for sure: what the pages brought and what the round pushed. */
  readonly held: ReadonlySet<string>;
}

/** What the client read after the answer. */
export interface Local {
  readonly root: readonly [number, number];
  /** Its messages in the answer's `send` ranges. */
  readonly inSend: readonly Message[];
  /** Its messages in the answer's `push` ranges. */
  readonly inPush: readonly Message[];
  /** Its next page of unacknowledged edits. */
  readonly outbox: readonly Message[];
}

/** The next request: these messages, and the summary of `descend` (empty: the frontier). */
export interface NextRound {
  readonly push: Message[];
  readonly descend: string[];
}

/** In sync, as far as this client can bring it: `unrepaired` are other nodes' messages the
 * client holds and the server lacks (only a message's own node may push it). */
export interface Done {
  readonly done: true;
  readonly unrepaired: Message[];
}

/** The next round, or Done when the client and the server hold the same messages. The
 * client pushes only what its own node wrote (the server refuses anything else). */
export function nextRound(answer: Answer, local: Local, node: string): NextRound | Done {
  const lacking = [...local.inSend.filter((m) => !answer.held.has(m.timestamp)), ...local.inPush];
  const extras = lacking.filter((m) => nodeOf(m.timestamp) === node);
  const unrepaired = unique(lacking.filter((m) => nodeOf(m.timestamp) !== node));
  const sameRoot = answer.root[0] === local.root[0] && answer.root[1] === local.root[1];
  if (!answer.descend.length && !extras.length && !local.outbox.length && (sameRoot || unrepaired.length)) {
    return { done: true, unrepaired };
  }
  return { push: unique([...local.outbox, ...extras]), descend: [...answer.descend] };
}

/** The first occurrence of each timestamp, in order. */
function unique(messages: readonly Message[]): Message[] {
  const seen = new Map<string, Message>();
  for (const m of messages) if (!seen.has(m.timestamp)) seen.set(m.timestamp, m);
  return [...seen.values()];
}
