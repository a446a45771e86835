// Runs the reference (@actual-app/crdt 3.1.3) on one JSON request read from stdin and writes
// one JSON response to stdout. Used by tests/crdt/test_reference_crosscheck.py.
//
//   {"op":"build","timestamps":[str,...]}       -> {"trie": trie, "hash": root hash}
//   {"op":"diff","a":trie,"b":trie}              -> {"diff": millis | null}
//   {"op":"prune","trie":trie,"n":2}             -> {"trie": trie}
//   {"op":"hash","timestamps":[str,...]}         -> {"hashes": [unsigned murmur3,...]}
//   {"op":"format","items":[[millis,counter,node],...]} -> {"strings": [str,...]}
//   {"op":"batch","requests":[request,...]}      -> {"responses": [response,...]}
//     (node starts in ~0.25 s with the package loaded: batch to keep the Python tests fast)
//
// Errors: {"error": message} and exit status 1.
import { pathToFileURL } from 'node:url';

import { merkle, Timestamp } from '@actual-app/crdt';

// merkle.build() discards insert()'s result and returns an empty trie: fold insert ourselves.
export function buildTrie(timestamps) {
  let trie = merkle.emptyTrie();
  for (const text of timestamps) trie = merkle.insert(trie, parseTimestamp(text));
  return trie;
}

export function parseTimestamp(text) {
  const ts = Timestamp.parse(text);
  if (ts === null) throw new Error(`reference cannot parse timestamp ${JSON.stringify(text)}`);
  return ts;
}

export function handle(req) {
  switch (req.op) {
    case 'build': {
      const trie = buildTrie(req.timestamps);
      return { trie, hash: trie.hash };
    }
    case 'diff':
      return { diff: merkle.diff(req.a, req.b) };
    case 'prune':
      return { trie: req.n === undefined ? merkle.prune(req.trie) : merkle.prune(req.trie, req.n) };
    case 'hash':
      return { hashes: req.timestamps.map((t) => parseTimestamp(t).hash()) };
    case 'format':
      return { strings: req.items.map(([m, c, n]) => new Timestamp(m, c, n).toString()) };
    case 'batch':
      return { responses: req.requests.map(handle) };
    default:
      throw new Error(`unknown op ${JSON.stringify(req.op)}`);
  }
}

async function main() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  try {
    process.stdout.write(JSON.stringify(handle(JSON.parse(Buffer.concat(chunks).toString('utf8')))));
  } catch (err) {
    process.stdout.write(JSON.stringify({ error: String(err && err.stack ? err.stack : err) }));
    process.exitCode = 1;
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
