// React bindings (`switchboard-client/react`; React >= 18, a peer dependency, never bundled).
// One client per page: `<SwitchboardProvider>` takes it from a registry keyed by its options,
// counted by mounted providers and closed a tick after the last unmounts (StrictMode's
// unmount-and-mount again keeps it, a route change that swaps providers keeps it). Hooks read
// the client's values through `useSyncExternalStore`, one subscription per value however
// many components read it, removed with the last reader.
import { createContext, createElement, useCallback, useContext, useEffect, useMemo, useRef, useState, useSyncExternalStore } from 'react';
import { connect } from './switchboard.js';

const Context = createContext(undefined);
// options key -> { promise, client, error, users, timer, fns }
const shared = new Map();
const later = (f) => setTimeout(f, 0);
const key = (options) => JSON.stringify(options, (_, v) => (typeof v == 'function' ? String(v) : v));

function acquire(options) {
  const k = key(options);
  let entry = shared.get(k);
  if (!entry) {
    entry = { users: 0, client: null, error: null, fns: new Set(), key: k };
    const tell = () => entry.fns.forEach((f) => f());
    entry.promise = connect(options).then(
      (client) => {
        entry.client = client;
        if (entry.dead) client.close();
        tell();
        return client;
      },
      (error) => {
        console.error('switchboard:', error);
        entry.error = error;
        tell();
        throw error;
      }
    );
    entry.promise.catch(() => {});
    shared.set(k, entry);
  }
  entry.users++;
  clearTimeout(entry.timer);
  return entry;
}

function release(entry) {
  if (--entry.users) return;
  entry.timer = later(() => {
    if (entry.users) return;
    shared.delete(entry.key);
    entry.dead = true;
    entry.client?.close();
  });
}

/** Gives its children one Switchboard client for the page (`connect(options)`, shared by
 * every provider with equal options), or the `client` passed in. */
export function SwitchboardProvider({ options = {}, client, children }) {
  const k = key(options);
  const [entry, setEntry] = useState(null);
  useEffect(() => {
    if (client) return;
    const e = acquire(options);
    setEntry(e);
    return () => release(e);
  }, [k, client]);
  const value = useMemo(() => (client ? { client, fns: new Set(), promise: Promise.resolve(client) } : entry), [client, entry]);
  return createElement(Context.Provider, { value }, children);
}

const none = () => () => {};
function useEntry() {
  const entry = useContext(Context);
  if (entry === undefined) throw new Error('switchboard: use this hook inside <SwitchboardProvider>');
  return entry;
}

/** The page's client, or null until `connect` resolved (or when it failed: `useStatus()`
 * says why). */
export function useSwitchboard() {
  const entry = useEntry();
  const subscribe = useCallback((f) => (entry ? (entry.fns.add(f), () => entry.fns.delete(f)) : () => {}), [entry]);
  const get = () => entry?.client ?? null;
  return useSyncExternalStore(entry ? subscribe : none, get, get);
}

// One subscription per client and value, shared by the components reading it.
const stores = new WeakMap();
function store(client, name, on) {
  let m = stores.get(client);
  if (!m) stores.set(client, (m = new Map()));
  let s = m.get(name);
  if (!s) {
    const fns = new Set();
    let off, value;
    m.set(name, (s = {
      get: () => value,
      subscribe(f) {
        if (!fns.size) off = on((v) => ((value = v), fns.forEach((g) => g())));
        fns.add(f);
        return () => {
          fns.delete(f);
          if (!fns.size) off();
        };
      },
    }));
    // Read once now (every `on*` calls its listener at once), so the first render has it.
    on((v) => (value = v))();
  }
  return s;
}
function useValue(name, on, fallback) {
  const client = useSwitchboard();
  const s = client && store(client, name, (f) => on(client, f));
  const get = () => (s ? s.get() : fallback);
  return useSyncExternalStore(s ? s.subscribe : none, get, get);
}

const LOADING = { status: 'connecting' };
/** The status detail (`{ status, reason, attempt, ... }`); "failed" with the reason when
 * `connect` itself failed (the worker did not load). */
export function useStatus() {
  const entry = useEntry();
  const detail = useValue('status', (c, f) => c.onStatus(f), LOADING);
  const error = useSwitchboard() ? null : entry?.error;
  return useMemo(() => (error ? { status: 'failed', reason: error.message } : detail), [error, detail]);
}

/** Calls the latest `handler` on every `event` (one registration, kept across renders). */
export function useEvent(event, handler) {
  const client = useSwitchboard();
  const ref = useRef(handler);
  useEffect(() => {
    ref.current = handler;
  });
  useEffect(() => client?.on(event, (...args) => ref.current(...args)), [client, event]);
}

/** A stable `emit(event, ...args)`; an emit before the client is ready waits for it. */
export function useEmit() {
  const entry = useEntry();
  return useCallback((...args) => {
    if (entry?.client) return entry.client.emit(...args);
    entry?.promise.then((c) => c.emit(...args), () => {});
  }, [entry]);
}

// Joins counted per client and room: the last component to leave leaves (a tick later, so a
// remount does not leave and join again).
const joins = new WeakMap();
/** Joins `room` while mounted: `{ joined, members }`. */
export function useRoom(room) {
  const client = useSwitchboard();
  const [joined, setJoined] = useState(null);
  useEffect(() => {
    if (!client) return;
    let m = joins.get(client);
    if (!m) joins.set(client, (m = new Map()));
    let j = m.get(room);
    if (!j) m.set(room, (j = { users: 0, done: client.join(room) }));
    j.users++;
    clearTimeout(j.timer);
    let live = true;
    j.done.then(
      () => live && setJoined(room),
      (e) => (m.get(room) === j && m.delete(room), console.warn(`switchboard: cannot join ${room}:`, e))
    );
    return () => {
      live = false;
      setJoined(null);
      if (--j.users) return;
      j.timer = later(() => j.users || (m.delete(room), client.leave(room).catch(() => {})));
    };
  }, [client, room]);
  const members = useValue('members:' + room, (c, f) => c.onMembers(room, f), EMPTY);
  return { joined: joined === room, members };
}
const EMPTY = [];

/** The leader of this tab's scope (`{ isLeader, leader, term, scope }`), or null. */
export function useLeader() {
  return useValue('leader', (c, f) => c.onLeader(f), null);
}

/** Sign-in shared by every tab: the auth state (`user`, `expiresAt`, `error`, `signedOut`;
 * null until the hub knows) with `login`, `logout` and `refresh`. */
export function useAuth() {
  const client = useSwitchboard();
  const auth = useValue('auth', (c, f) => c.onAuth(f), null);
  return useMemo(() => {
    const ask = (m) => (...a) => (client ? client[m](...a) : Promise.reject(new Error('switchboard: not connected yet')));
    return { ...auth, user: auth?.user ?? null, known: !!auth, login: ask('login'), logout: ask('logout'), refresh: ask('refresh') };
  }, [client, auth]);
}

/** `[value, set]` of shared-state `key` (needs `import 'switchboard-client/state'`); `set`
 * takes a value or a function of the current one and resolves with what the server settled. */
export function useSharedState(key) {
  const entry = useEntry();
  const client = useSwitchboard();
  if (client && !client.state) throw new Error("switchboard: useSharedState needs the state feature: import 'switchboard-client/state' once");
  const value = useValue('state:' + key, (c, f) => {
    f(c.state.get(key));
    return c.state.subscribe(key, (e) => f(e.value));
  });
  const set = useCallback(async (next) => {
    const c = entry?.client ?? (await (entry?.promise ?? Promise.reject(new Error('switchboard: not connected yet'))));
    return c.state.set(key, typeof next == 'function' ? next(c.state.get(key)) : next);
  }, [entry, key]);
  return [value, set];
}

/** The security state (`{ state, lastEvent }`; needs `import 'switchboard-client/security'`). */
export function useSecurity() {
  const client = useSwitchboard();
  if (client && !client.onSecurity) throw new Error("switchboard: useSecurity needs the security feature: import 'switchboard-client/security' once");
  return useValue('security', (c, f) => (f(c.security), c.onSecurity(f)), null);
}
