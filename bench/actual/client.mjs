// A client of the real Actual sync server, built on @actual-app/crdt (its Timestamp, merkle
// and protobuf code), following the real client's full-sync loop (loot-core
// server/sync/index.ts `_fullSync`). Recap's benchmarks drive it over stdin/stdout, one JSON
// object per line: {"rid", "op", ...} in, {"rid", "ok": true, ...} or {"rid", "error"} out.
// Requests run concurrently (each sync awaits its own HTTP exchanges), so many replicas can
// sync at once; the CRDT module's clock is global, so it is swapped in for each replica
// around the synchronous sections that stamp or receive.
//
// Ops:
//   setup {url, password, bootstrap, net}  bootstrap the server password (the first client
//                                        process only) and log in; replicas connect from
//                                        127.<net>.x.y
//   adopt {name, fileId, groupId}        a budget another client process uploaded
//   budget {name}                        upload a budget file (sync format 2), as the real
//                                        client does before its first /sync -> {fileId, groupId}
//   replica {id, budget, node?}          a replica of that budget with its own clock, log
//                                        and merkle
//   load {id, messages}                  setup, not measured: store messages in a replica
//                                        (log + merkle), as if it had synced them when the
//                                        newest was made
//   stamp {id, edits}                    local edits stamped with Timestamp.send(), as
//                                        sendMessages does -> {messages}
//   local {id, messages}                 already-stamped local edits (offline at set times)
//   sync {id, lacked?}                   the full-sync loop -> {requests, sent, received,
//                                        seconds, converged, lacked} (lacked: false leaves
//                                        the received messages out of the answer: a bootstrap)
//   push {budget, messages}              one /sync request that pulls nothing (since = the
//                                        far future): seeding and ingest
//   drop {id}                            forget a replica
import http from 'node:http';
import readline from 'node:readline';

import {
  Timestamp,
  merkle,
  makeClock,
  setClock,
  SyncRequestSchema,
  SyncResponseSchema,
  MessageEnvelopeSchema,
  MessageSchema,
  create,
  toBinary,
  fromBinary,
} from '@actual-app/crdt';

let server = null; // {url, token}
const budgets = new Map(); // name -> {fileId, groupId}
const replicas = new Map();

// loot-core's serializeValue / deserializeValue (booleans are stored as integers there).
function serializeValue(value) {
  if (value === null || value === undefined) return '0:';
  if (typeof value === 'boolean') return 'N:' + (value ? 1 : 0);
  if (typeof value === 'number') return 'N:' + value;
  if (typeof value === 'string') return 'S:' + value;
  throw new Error('Unserializable value type: ' + JSON.stringify(value));
}

function deserializeValue(value) {
  const type = value[0];
  if (type === '0') return null;
  if (type === 'N') return parseFloat(value.slice(2));
  if (type === 'S') return value.slice(2);
  throw new Error('Invalid type key for value: ' + value);
}

function envelope(msg) {
  return create(MessageEnvelopeSchema, {
    timestamp: msg.timestamp,
    isEncrypted: false,
    content: toBinary(
      MessageSchema,
      create(MessageSchema, {
        dataset: msg.dataset,
        row: msg.row,
        column: msg.column,
        value: serializeValue(msg.value),
      }),
    ),
  });
}

function unwrap(env) {
  const m = fromBinary(MessageSchema, env.content);
  return {
    dataset: m.dataset,
    row: m.row,
    column: m.column,
    value: deserializeValue(m.value),
    timestamp: env.timestamp,
  };
}

// Each replica talks from its own loopback address, as each device has its own: the server
// limits every IP address to 500 requests a minute (express-rate-limit in production
// mode), which 200 reps behind one address would hit within a minute of syncing.
let replicaCount = 0;
let net = 1;
const setupAgent = new http.Agent({ keepAlive: true });

function newReplica(budget, node) {
  const clock = makeClock(new Timestamp(0, 0, node ?? randomNode()), {});
  const n = replicaCount++;
  const localAddress = `127.${net}.${Math.floor(n / 250)}.${(n % 250) + 1}`;
  return {
    budget: budgets.get(budget),
    clock,
    log: new Map(),
    lastSyncedTimestamp: null,
    agent: new http.Agent({ keepAlive: true, localAddress }),
  };
}

function randomNode() {
  // makeClientId() is a uuid slice; any 16 hex characters do.
  let s = '';
  for (let i = 0; i < 16; i++) s += Math.floor(Math.random() * 16).toString(16);
  return s;
}

// applyMessages: store what is new, insert only new timestamps into the merkle (XOR: a
// duplicate would cancel itself), prune as loot-core does after every apply.
function apply(replica, messages, receiving) {
  setClock(replica.clock);
  let trie = replica.clock.merkle;
  const fresh = [];
  for (const msg of messages) {
    const ts = Timestamp.parse(msg.timestamp);
    if (receiving) Timestamp.recv(ts);
    if (replica.log.has(msg.timestamp)) continue;
    replica.log.set(msg.timestamp, msg);
    trie = merkle.insert(trie, ts);
    fresh.push(msg);
  }
  replica.clock.merkle = merkle.prune(trie);
  return fresh;
}

function post(path, body, headers, agent = setupAgent) {
  return new Promise((resolve, reject) => {
    const data = typeof body === 'string' ? Buffer.from(body) : body;
    const req = http.request(
      server.url + path,
      { method: 'POST', agent, headers: { ...headers, 'Content-Length': data.length } },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode, raw: new Uint8Array(Buffer.concat(chunks)) }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(data);
  });
}

function messagesSince(replica, since) {
  // getMessagesSince: every stored message (local or received) after `since`.
  const out = [];
  for (const [ts, msg] of replica.log) if (ts > since) out.push(msg);
  out.sort((a, b) => (a.timestamp < b.timestamp ? -1 : a.timestamp > b.timestamp ? 1 : 0));
  return out;
}

async function exchange(budget, since, messages, agent) {
  const body = toBinary(
    SyncRequestSchema,
    create(SyncRequestSchema, {
      messages: messages.map(envelope),
      fileId: budget.fileId,
      groupId: budget.groupId,
      keyId: '',
      since,
    }),
  );
  const { status, raw } = await post(
    '/sync/sync',
    body,
    { 'Content-Type': 'application/actual-sync', 'X-ACTUAL-TOKEN': server.token },
    agent,
  );
  if (status !== 200) {
    const text = new TextDecoder().decode(raw.slice(0, 300));
    const err = new Error(`HTTP ${status}: ${text}`);
    err.status = status;
    err.sent = body.length;
    err.received = raw.length;
    throw err;
  }
  return { sent: body.length, received: raw.length, res: fromBinary(SyncResponseSchema, raw) };
}

// _fullSync, as a loop instead of recursion: same since, same stop rules.
async function fullSync(replica, keepLacked = true) {
  const started = performance.now();
  let sent = 0;
  let received = 0;
  let requests = 0;
  let sinceTimestamp = null;
  let count = 0;
  let prevDiffTime = null;
  const lacked = [];
  for (;;) {
    const since =
      sinceTimestamp ||
      replica.lastSyncedTimestamp ||
      new Timestamp(Date.now() - 5 * 60 * 1000, 0, '0').toString();
    const messages = messagesSince(replica, since);
    let out;
    try {
      out = await exchange(replica.budget, since, messages, replica.agent);
    } catch (e) {
      return {
        requests: requests + 1,
        sent: sent + (e.sent ?? 0),
        received: received + (e.received ?? 0),
        seconds: (performance.now() - started) / 1000,
        converged: false,
        failure: String(e.message),
        lacked,
      };
    }
    requests += 1;
    sent += out.sent;
    received += out.received;
    const incoming = out.res.messages.map(unwrap);
    for (const msg of apply(replica, incoming, true)) if (keepLacked) lacked.push(msg);
    const serverTrie = JSON.parse(out.res.merkle);
    const diffTime = merkle.diff(serverTrie, replica.clock.merkle);
    if (diffTime === null) {
      replica.lastSyncedTimestamp = replica.clock.timestamp.toString();
      return {
        requests,
        sent,
        received,
        seconds: (performance.now() - started) / 1000,
        converged: true,
        lacked,
      };
    }
    if ((count >= 10 && diffTime === prevDiffTime) || count >= 100) {
      return {
        requests,
        sent,
        received,
        seconds: (performance.now() - started) / 1000,
        converged: false,
        failure: 'out-of-sync',
        lacked,
      };
    }
    sinceTimestamp = new Timestamp(diffTime, 0, '0').toString();
    count += 1;
    prevDiffTime = diffTime;
  }
}

async function setup({ url, password, bootstrap = true, net: n = 1 }) {
  server = { url };
  net = n;
  const json = { 'Content-Type': 'application/json' };
  let r;
  if (bootstrap) {
    r = await post('/account/bootstrap', JSON.stringify({ password }), json);
    if (r.status !== 200) throw new Error('bootstrap: ' + new TextDecoder().decode(r.raw));
  }
  r = await post('/account/login', JSON.stringify({ loginMethod: 'password', password }), json);
  const login = JSON.parse(new TextDecoder().decode(r.raw));
  if (!login.data?.token) throw new Error('login: ' + JSON.stringify(login));
  server.token = login.data.token;
  return {};
}

async function budget({ name }) {
  const fileId = crypto.randomUUID();
  // The real client uploads the zipped budget; the server stores the bytes as they come and
  // only needs the file to exist, in sync format 2, to accept /sync for it.
  const r = await post('/sync/upload-user-file', new Uint8Array([0x50, 0x4b, 0x05, 0x06]), {
    'Content-Type': 'application/encrypted-file',
    'X-ACTUAL-TOKEN': server.token,
    'X-ACTUAL-FILE-ID': fileId,
    'X-ACTUAL-NAME': encodeURIComponent(name),
    'X-ACTUAL-FORMAT': '2',
  });
  const up = JSON.parse(new TextDecoder().decode(r.raw));
  if (up.status !== 'ok') throw new Error('upload: ' + JSON.stringify(up));
  budgets.set(name, { fileId, groupId: up.groupId });
  return { fileId, groupId: up.groupId };
}

const ops = {
  setup,
  budget,
  adopt({ name, fileId, groupId }) {
    budgets.set(name, { fileId, groupId });
    return {};
  },
  replica({ id, budget, node }) {
    if (!budgets.has(budget)) throw new Error('no budget ' + budget);
    replicas.set(id, newReplica(budget, node));
    return {};
  },
  load({ id, messages }) {
    // As after a completed sync when the newest of these messages was made: the clock and
    // lastSyncedTimestamp stand there (recv would move them to the present, and the
    // replica would then ask for nothing it missed while offline).
    const replica = replicas.get(id);
    apply(replica, messages, false);
    let newest = replica.lastSyncedTimestamp ?? '';
    for (const m of messages) if (m.timestamp > newest) newest = m.timestamp;
    const ts = Timestamp.parse(newest);
    replica.clock.timestamp.setMillis(ts.millis());
    replica.clock.timestamp.setCounter(ts.counter());
    replica.lastSyncedTimestamp = replica.clock.timestamp.toString();
    return { stored: replica.log.size };
  },
  stamp({ id, edits }) {
    const replica = replicas.get(id);
    setClock(replica.clock);
    const messages = edits.map((e) => ({ ...e, timestamp: Timestamp.send().toString() }));
    apply(replica, messages, false);
    return { messages };
  },
  local({ id, messages }) {
    apply(replicas.get(id), messages, false);
    return {};
  },
  async sync({ id, lacked }) {
    return fullSync(replicas.get(id), lacked !== false);
  },
  async push({ budget, messages }) {
    const started = performance.now();
    const future = '9999-12-31T23:59:59.999Z-FFFF-FFFFFFFFFFFFFFFF';
    const out = await exchange(budgets.get(budget), future, messages);
    return {
      sent: out.sent,
      received: out.received,
      seconds: (performance.now() - started) / 1000,
    };
  },
  drop({ id }) {
    replicas.get(id)?.agent.destroy();
    replicas.delete(id);
    return {};
  },
};

function reply(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

const lines = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
lines.on('line', async (line) => {
  if (!line) return;
  let request;
  try {
    request = JSON.parse(line);
    const result = await ops[request.op](request);
    reply({ rid: request.rid, ok: true, ...result });
  } catch (e) {
    reply({ rid: request?.rid ?? null, ok: false, error: String(e?.stack ?? e) });
  }
});
lines.on('close', () => process.exit(0));
