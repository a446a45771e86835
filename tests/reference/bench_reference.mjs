// Micro-benchmark of the reference merkle trie (@actual-app/crdt 3.1.3), for comparison with
// Recap's. Prints one JSON object on stdout:
//   {"insert_100k_s", "insert_1m_s", "diff_100k_ms", "trie_json_bytes_100k",
//    "pruned_json_bytes_100k", "sizes": {"small", "large"}}
// Usage: node bench_reference.mjs [small=100000] [large=1000000]
// (a quick mode passes smaller sizes; the key names stay the same, "sizes" says what ran).
import { merkle, Timestamp } from '@actual-app/crdt';

const small = Number(process.argv[2] ?? 100_000);
const large = Number(process.argv[3] ?? 1_000_000);
for (const n of [small, large]) {
  if (!Number.isInteger(n) || n < 1) throw new Error(`sizes must be positive integers, got ${n}`);
}

// Deterministic timestamps spread over ~3 years (mulberry32, no Math.random).
function makeTimestamps(count, seed) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
  const start = Date.parse('2023-01-01T00:00:00.000Z');
  const span = 3 * 365 * 86_400_000;
  const nodes = ['0123456789abcdef', 'fedcba9876543210', 'a1b2c3d4e5f60718', '5a5a5a5a5a5a5a5a'];
  const out = new Array(count);
  for (let i = 0; i < count; i++) {
    // i-th of `count` evenly spaced slots plus jitter: distinct, sorted like a real history.
    const millis = start + Math.floor((i * span) / count) + (next() % 1000);
    out[i] = new Timestamp(millis, next() % 4, nodes[next() % nodes.length]);
  }
  return out;
}

function foldInsert(timestamps) {
  let trie = merkle.emptyTrie();
  for (const ts of timestamps) trie = merkle.insert(trie, ts);
  return trie;
}

function timeInsert(count, seed) {
  const timestamps = makeTimestamps(count, seed);
  const t = process.hrtime.bigint();
  const trie = foldInsert(timestamps);
  return { trie, seconds: Number(process.hrtime.bigint() - t) / 1e9 };
}

const { trie: smallTrie, seconds: insertSmall } = timeInsert(small, 1);

// Two tries differing in one message (insert does not mutate, so smallTrie stays as it is).
const extra = new Timestamp(Date.parse('2024-06-15T12:34:56.789Z'), 9, '0000000000000042');
const other = merkle.insert(smallTrie, extra);
if (merkle.diff(smallTrie, other) === null) throw new Error('tries should differ');
let rounds = 0;
const t = process.hrtime.bigint();
while (rounds < 10 || (rounds < 100_000 && Number(process.hrtime.bigint() - t) < 1e9)) {
  merkle.diff(smallTrie, other);
  rounds++;
}
const diffMs = Number(process.hrtime.bigint() - t) / 1e6 / rounds;

const trieJsonBytes = Buffer.byteLength(JSON.stringify(smallTrie));
const prunedJsonBytes = Buffer.byteLength(JSON.stringify(merkle.prune(smallTrie)));

const { seconds: insertLarge } = timeInsert(large, 2);

const round = (x, digits) => Number(x.toFixed(digits));
process.stdout.write(
  JSON.stringify({
    insert_100k_s: round(insertSmall, 3),
    insert_1m_s: round(insertLarge, 3),
    diff_100k_ms: round(diffMs, 4),
    trie_json_bytes_100k: trieJsonBytes,
    pruned_json_bytes_100k: prunedJsonBytes,
    sizes: { small, large },
  }) + '\n',
);
