"""The web app's device seen from outside, for the e2e tests and the browser benchmark:
how to start Debian's Chromium headless on these machines, and a script that reads what the
app stored in IndexedDB (so both read the store's layout the same way, and a layout change
breaks both at once)."""

from __future__ import annotations

import os

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
#: Headless Chromium without a sandbox, GPU or background downloads (see ../shared/NOTES.md).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]

#: `page.evaluate(IDB_READ)`: the device's trie root (hash, count), how many trie nodes,
#: messages and rows (`registers`) it holds. The trie is stored as blocks (frontend/src/
#: engine/trieblocks.ts): the root is the node with path '' in the top block, keyed ''; rows
#: are stored in groups (rowgroups.ts).
IDB_READ = """async () => {
  const db = await new Promise((resolve, reject) => {
    const r = indexedDB.open('recap');
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
  const get = (store, query) => new Promise((resolve, reject) => {
    const r = db.transaction(store).objectStore(store)[query.op](query.arg);
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
  const top = await get('trieBlocks', { op: 'get', arg: '' });
  const at = top ? top.p.indexOf('') : -1;
  const blocks = await get('trieBlocks', { op: 'getAll' });
  const trie = blocks.reduce((n, b) => n + b.p.length, 0);
  const messages = await get('messages', { op: 'count' });
  const groups = await get('rowGroups', { op: 'getAll' });
  const registers = groups.reduce((n, g) => n + Object.keys(g.rows).length, 0);
  db.close();
  return {
    hash: at >= 0 ? top.h[at] : 0,
    count: at >= 0 ? top.c[at] : 0,
    messages, registers, trie, blocks: blocks.length,
  };
}"""
