// Generates tests/vectors/merkle.json from the reference (@actual-app/crdt 3.1.3).
// Deterministic: a seeded PRNG, no Math.random, no clock. Re-run with
//   npm ci --prefix tests/reference && node tests/reference/make_vectors.mjs
// and commit the result only when the change is intended (tests/crdt/test_vectors.py reads it).
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { merkle, Timestamp } from '@actual-app/crdt';

import { buildTrie } from './harness.mjs';

const SEED = 0x5eca9;
const OUT = join(dirname(fileURLToPath(import.meta.url)), '..', 'vectors', 'merkle.json');

// mulberry32: 32-bit state, returns integers in [0, 2^32).
function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}
const next32 = mulberry32(SEED);
// Uniform integer in [lo, hi] (hi - lo < 2^53) from 53 random bits.
function randInt(lo, hi) {
  const x = (next32() * 2 ** 21 + (next32() >>> 11)) / 2 ** 53;
  return lo + Math.floor(x * (hi - lo + 1));
}
const pick = (xs) => xs[randInt(0, xs.length - 1)];
function shuffled(xs) {
  const out = [...xs];
  for (let i = out.length - 1; i > 0; i--) {
    const j = randInt(0, i);
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}
const randNode = () =>
  Array.from({ length: 16 }, () => '0123456789abcdef'[randInt(0, 15)]).join('');

const MINUTE = 60_000;
const DAY = 86_400_000;
const YEAR = 365 * DAY;
const ms = (iso) => Date.parse(iso);
const T2019 = ms('2019-01-01T00:00:00.000Z');
const T2030_END = ms('2030-12-31T23:59:59.999Z');

const NODES = Array.from({ length: 6 }, randNode);
const fmt = (millis, counter, node) => new Timestamp(millis, counter, node).toString();
const randCounter = () => (randInt(0, 3) === 0 ? randInt(0, 0xffff) : randInt(0, 20));

// `count` distinct timestamps with millis in [start, end]; `minutes` > 0 draws them from that
// many distinct minutes only (same-minute collisions).
function randomTimestamps(count, start, end, { minutes = 0, counter = randCounter } = {}) {
  const pool = minutes ? Array.from({ length: minutes }, () => randInt(start, end)) : null;
  const out = new Set();
  while (out.size < count) {
    const millis = pool ? Math.floor(pick(pool) / MINUTE) * MINUTE + randInt(0, MINUTE - 1) : randInt(start, end);
    out.add(fmt(Math.min(millis, end), counter(), pick(NODES)));
  }
  return [...out];
}

// (a) build: timestamp list -> trie and root hash (insert folded in list order).
const build = [];
const timestampSets = {};
function addBuild(id, timestamps) {
  const trie = buildTrie(timestamps);
  build.push({ id, timestamps, hash: trie.hash, trie });
  timestampSets[id] = timestamps;
  return trie;
}
const noon = ms('2024-06-15T12:00:00.000Z');
const t0 = fmt(ms('2019-01-01T00:00:00.000Z'), 0, NODES[0]);
const tMax = fmt(T2030_END, 0xffff, NODES[1]);
addBuild('empty', []);
addBuild('one-2019-start', [t0]);
addBuild('one-2030-end-counter-ffff', [tMax]);
addBuild('two-same-minute', [fmt(noon + 1_000, 0, NODES[0]), fmt(noon + 59_999, 3, NODES[1])]);
addBuild('two-same-millis-counters', [fmt(noon, 0, NODES[0]), fmt(noon, 1, NODES[0])]);
addBuild('two-2019-and-2030', [t0, tMax]);
addBuild('five-one-minute', randomTimestamps(5, noon, noon + MINUTE - 1));
addBuild('five-one-hour', randomTimestamps(5, noon, noon + 60 * MINUTE));
addBuild('five-days', randomTimestamps(5, noon, noon + 10 * DAY));
addBuild('five-years', randomTimestamps(5, T2019, T2030_END));
addBuild('fifty-one-hour', randomTimestamps(50, noon, noon + 60 * MINUTE));
addBuild('fifty-week', randomTimestamps(50, noon, noon + 7 * DAY));
addBuild('fifty-years', randomTimestamps(50, T2019, T2030_END));
addBuild('fifty-five-minutes-collide', randomTimestamps(50, T2019, T2030_END, { minutes: 5 }));
addBuild('fifty-counters-full-range', randomTimestamps(50, noon, noon + DAY, { counter: () => randInt(0, 0xffff) }));
addBuild('fifty-years-reordered', shuffled(timestampSets['fifty-years']));
const t2023 = ms('2023-03-01T00:00:00.000Z');
addBuild('three-hundred-three-years', randomTimestamps(300, t2023, t2023 + 3 * YEAR));
addBuild('three-hundred-2019-2030', randomTimestamps(300, T2019, T2030_END));
addBuild('three-hundred-one-day-collide', randomTimestamps(300, noon, noon + DAY, { minutes: 40 }));
// XOR: inserting a timestamp twice cancels it, but the (zero-hash) nodes stay.
addBuild('duplicate-cancels', [t0, t0]);
addBuild('duplicate-among-others', [t0, tMax, t0]);
// Key lengths: minute 0 is key "0"; before 1997-04-13 keys have 15 base-3 digits, from
// 2051-11-05 on 17 (the reference does not pad them).
addBuild('edge-key-lengths', [
  fmt(0, 0, NODES[0]),
  fmt(59_999, 1, NODES[0]),
  fmt(ms('1997-04-13T00:00:00.000Z') - 1, 0, NODES[2]),
  fmt(ms('1997-04-14T00:00:00.000Z'), 0, NODES[2]),
  fmt(ms('2051-11-04T00:00:00.000Z'), 0, NODES[3]),
  fmt(ms('2051-11-06T00:00:00.000Z'), 0, NODES[3]),
]);

// (b) diff: pairs of tries (as the reference builds them) -> reference diff, both ways.
const diff = [];
function addDiff(id, a, b) {
  diff.push({ id, a, b, diff: merkle.diff(a, b), diff_reversed: merkle.diff(b, a) });
}
const base = randomTimestamps(30, ms('2024-01-01T00:00:00.000Z'), ms('2024-01-01T00:00:00.000Z') + YEAR);
const baseTrie = buildTrie(base);
const sorted = [...base].sort();
const lastMillis = Timestamp.parse(sorted[sorted.length - 1]).millis();
const firstMillis = Timestamp.parse(sorted[0]).millis();
const midMillis = Timestamp.parse(sorted[15]).millis();
const withExtra = (ts) => buildTrie([...base, ts]);
addDiff('equal', baseTrie, buildTrie(shuffled(base)));
addDiff('both-empty', merkle.emptyTrie(), merkle.emptyTrie());
addDiff('empty-vs-one', merkle.emptyTrie(), buildTrie([t0]));
addDiff('empty-vs-thirty', merkle.emptyTrie(), baseTrie);
addDiff('one-vs-empty', buildTrie([tMax]), merkle.emptyTrie());
addDiff('extra-after-last', baseTrie, withExtra(fmt(lastMillis + 3 * DAY, 0, NODES[4])));
addDiff('extra-before-first', baseTrie, withExtra(fmt(firstMillis - 3 * DAY, 0, NODES[4])));
addDiff('extra-in-middle', baseTrie, withExtra(fmt(midMillis + 5 * MINUTE, 7, NODES[5])));
// Same millis as an existing message, another node: a new message in an existing minute.
const otherNode = NODES.find((n) => n !== sorted[15].slice(-16));
addDiff('extra-same-minute', baseTrie, withExtra(fmt(midMillis, 1, otherNode)));
addDiff('extra-next-minute', baseTrie, withExtra(fmt(midMillis + MINUTE, 0, NODES[5])));
addDiff('extra-2030', baseTrie, withExtra(tMax));
addDiff('one-missing', buildTrie(base.slice(1)), baseTrie);
addDiff('disjoint-same-year', baseTrie, buildTrie(randomTimestamps(30, ms('2024-01-01T00:00:00.000Z'), ms('2024-12-31T00:00:00.000Z'))));
addDiff('disjoint-years-apart', buildTrie(randomTimestamps(10, T2019, ms('2020-01-01T00:00:00.000Z'))), buildTrie(randomTimestamps(10, ms('2029-01-01T00:00:00.000Z'), T2030_END)));
addDiff('overlap-extras-both-sides', buildTrie([...base, ...randomTimestamps(3, T2019, T2030_END)]), buildTrie([...base, ...randomTimestamps(3, T2019, T2030_END)]));
addDiff('pruned-vs-full-equal', merkle.prune(baseTrie, 2), baseTrie);
addDiff('pruned-vs-full-extra-late', merkle.prune(baseTrie, 2), withExtra(fmt(lastMillis + MINUTE, 0, NODES[4])));
addDiff('pruned-vs-full-extra-early', merkle.prune(baseTrie, 2), withExtra(fmt(firstMillis - MINUTE, 0, NODES[4])));
addDiff('full-vs-pruned-extra-middle', withExtra(fmt(midMillis + 2 * MINUTE, 0, NODES[4])), merkle.prune(baseTrie, 2));
addDiff('both-pruned-extra', merkle.prune(baseTrie, 2), merkle.prune(withExtra(fmt(midMillis + DAY, 0, NODES[4])), 2));
addDiff('pruned-n1-vs-full-extra', merkle.prune(baseTrie, 1), withExtra(fmt(midMillis - DAY, 0, NODES[4])));
addDiff('cancelled-vs-empty', buildTrie([t0, t0]), merkle.emptyTrie());

// (c) prune: trie of a build case (by id) -> reference prune(trie, n); n null means the default.
const prune = [];
function addPrune(buildId, n) {
  const trie = build.find((c) => c.id === buildId).trie;
  const out = n === null ? merkle.prune(trie) : merkle.prune(trie, n);
  prune.push({ id: `${buildId}-n${n === null ? 'default' : n}`, build: buildId, n, trie: out });
}
for (const id of ['five-years', 'fifty-week', 'three-hundred-2019-2030']) {
  for (const n of [null, 0, 1, 2, 3]) addPrune(id, n);
}
addPrune('empty', 2);
addPrune('one-2019-start', 1);
addPrune('duplicate-cancels', 2); // root hash 0: returned as it is, children included
addPrune('duplicate-among-others', 1);

// (d) timestamps: (millis, counter, node) -> toString() and hash().
const timestamps = [];
function addTimestamp(id, millis, counter, node) {
  const ts = new Timestamp(millis, counter, node);
  const string = ts.toString();
  const parsed = Timestamp.parse(string);
  if (parsed.millis() !== millis || parsed.counter() !== counter || parsed.node() !== node) {
    throw new Error(`reference does not round-trip ${string}`);
  }
  timestamps.push({ id, millis, counter, node, string, hash: ts.hash() });
}
addTimestamp('epoch', 0, 0, '0000000000000000');
addTimestamp('one-ms', 1, 1, '0000000000000001');
addTimestamp('notes-example', ms('2026-11-23T06:00:00.005Z'), 26, 'abcdef0123456789');
addTimestamp('counter-hex-upper', noon, 0xabc, NODES[0]);
addTimestamp('counter-ffff', noon, 0xffff, NODES[1]);
addTimestamp('node-all-f', noon + 999, 0x10, 'ffffffffffffffff');
addTimestamp('leap-day', ms('2024-02-29T23:59:59.999Z'), 2, NODES[2]);
addTimestamp('y2038', ms('2038-01-19T03:14:08.000Z'), 0, NODES[3]);
addTimestamp('year-9999-last-ms', ms('9999-12-31T23:59:59.999Z'), 0xffff, 'ffffffffffffffff');
for (let i = 0; i < 16; i++) {
  addTimestamp(`random-${i}`, randInt(T2019, T2030_END), randCounter(), randNode());
}

// One case per line: small diffs in review, valid JSON.
const section = (cases) => '[\n' + cases.map((c) => '  ' + JSON.stringify(c)).join(',\n') + '\n]';
const text =
  '{\n' +
  `"reference": "@actual-app/crdt 3.1.3",\n` +
  `"generator": "tests/reference/make_vectors.mjs",\n` +
  `"seed": ${SEED},\n` +
  `"build": ${section(build)},\n` +
  `"diff": ${section(diff)},\n` +
  `"prune": ${section(prune)},\n` +
  `"timestamps": ${section(timestamps)}\n` +
  '}\n';
JSON.parse(text);
writeFileSync(OUT, text);
console.error(
  `wrote ${OUT}: ${text.length} bytes, ${build.length} build, ${diff.length} diff, ` +
    `${prune.length} prune, ${timestamps.length} timestamp cases`,
);
