// Types for switchboard-state.js: the Switchboard page client with shared state
// (`client.state`). docs/server-contract.md, "Shared state", has the server's side.

import type { Client as BaseClient, ConnectOptions } from './switchboard.js';

/** What a subscriber hears on every change of its key, from any tab or device. */
export interface StateChange<T = unknown> {
  /** The value the server settled on (undefined: deleted). */
  value: T | undefined;
  /** Its version: a counter per backend node. */
  version: Record<string, number>;
  /** What this change overwrote without its writer having seen it (null: nothing lost). */
  conflict: unknown | null;
}

/** One state per signed-in user (all their tabs and devices); per device for a visitor.
 * Values are JSON, at most 64 KB each, 1000 keys per user. Needs a server that speaks the
 * Switchboard contract: against a plain Socket.IO server writes reject at once. */
export interface SharedState {
  /** The hub's latest value of `key` (undefined if none); works offline, after a reload. */
  get<T = unknown>(key: string): T | undefined;
  /** Resolves with the value the server settled on (offline: once back online). */
  set<T = unknown>(key: string, value: T): Promise<T>;
  delete(key: string): Promise<void>;
  keys(): string[];
  /** Calls `fn` on every change of `key`; returns a function that stops it. */
  subscribe<T = unknown>(key: string, fn: (change: StateChange<T>) => void): () => void;
  /** This tab's writes not yet settled. */
  readonly pending: number;
}

export interface Client extends BaseClient {
  readonly state: SharedState;
}

/** `connect` of switchboard.js, resolving once the hub's snapshot of the state is in. */
export function connect(options?: ConnectOptions): Promise<Client>;
/** Gives a client from switchboard.js its `state`. */
export function attachState(client: BaseClient): Promise<SharedState>;
