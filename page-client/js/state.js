// Shared state over a Switchboard client (`client.state`; docs/server-contract.md, "Shared
// state"): the hub keeps the latest value and version of every key of the user's scope and
// sends this tab the snapshot, then each change (`sb:state [entries, reset]`, each entry
// `[key, value, version, conflict, deleted]`). A write is an `sb:set` the hub sends once
// (through its durable queue while offline) and answers with the entry the server settled.
// Shipped in `switchboard-state.js` (and with the Rust API), so pages that do not use state
// do not download it.

const STATE = 'sb:state';
const SET = 'sb:set';

const copy = (v) => (v === undefined ? v : structuredClone(v));

export class State {
  constructor(client) {
    this.client_ = client;
    this.entries_ = new Map();
    this.watchers_ = new Map();
    /** Writes of this tab not yet settled by the server. */
    this.pending = 0;
  }

  // One entry from the hub: kept, and its subscribers told.
  apply_([key, value, version, conflict, deleted]) {
    const entry = { value: deleted ? undefined : value, version, conflict: conflict ?? null };
    this.entries_.set(key, entry);
    for (const fn of this.watchers_.get(key) ?? []) {
      try {
        fn({ value: copy(entry.value), version: { ...version }, conflict: copy(entry.conflict) });
      } catch (e) {
        console.warn('switchboard: a state subscriber threw', e);
      }
    }
  }

  /** The hub's latest value of `key` (undefined if none). */
  get(key) {
    return copy(this.entries_.get(String(key))?.value);
  }

  /** Keys that have a value. */
  keys() {
    return [...this.entries_].filter(([, e]) => e.value !== undefined).map(([k]) => k);
  }

  /** Writes `value` (JSON); resolves with the value the server settled on. */
  set(key, value) {
    return this.write_(String(key), [value]);
  }

  /** Deletes `key`; resolves once the server settled it. */
  delete(key) {
    return this.write_(String(key), []);
  }

  async write_(key, value) {
    this.pending++;
    try {
      const [, settled, , , deleted] = await this.client_.emitWithAck(SET, key, ...value);
      return deleted ? undefined : settled;
    } finally {
      this.pending--;
    }
  }

  /** Calls `fn({ value, version, conflict })` on every change of `key`, from any tab or
   * device; returns a function that stops it. */
  subscribe(key, fn) {
    key = String(key);
    const list = this.watchers_.get(key) ?? [];
    this.watchers_.set(key, [...list, fn]);
    return () => this.watchers_.set(key, (this.watchers_.get(key) ?? []).filter((f) => f !== fn));
  }
}

const attached = new WeakMap();
/** Gives `client` its `state` once the hub's snapshot arrived; resolves with it (the same
 * promise however often it is called for one client). */
export function attachState(client) {
  if (!attached.has(client)) attached.set(client, start(client));
  return attached.get(client);
}
function start(client) {
  const state = new State(client);
  return new Promise((resolve) => {
    client.on(STATE, (entries, reset) => {
      if (reset) {
        const gone = [...state.entries_.keys()].filter((k) => !entries.some((e) => e[0] === k));
        for (const key of gone) state.apply_([key, undefined, {}, null, true]);
        state.entries_.clear();
      }
      entries.forEach((e) => state.apply_(e));
      if (!client.state) {
        client.state = state;
        resolve(state);
      }
    });
  });
}
