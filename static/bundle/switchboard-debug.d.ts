// Types for switchboard-debug.js: the Switchboard page client with the debugging tools.

import type { Client as BaseClient, ConnectOptions } from './switchboard.js';

/** One entry of the hub's event log. */
export interface DebugEntry {
  seq: number;
  /** Wall-clock ms (server time when known). */
  at: number;
  dir: 'tab→server' | 'server→tab' | 'hub';
  nsp: string;
  /** The tab that sent it (tab→server). */
  tab: string | null;
  /** How many tabs got it (server→tab). */
  tabs: number;
  event: string;
  room: string | null;
  bytes: number;
  ack: number | null;
  /** Time from the emit to its ack or receipt. */
  ackMs: number | null;
  /** W3C traceparent of the tab action. */
  trace: string | null;
  outcome: 'sent' | 'queued' | 'refused' | 'acked' | 'delivered' | 'timed out' | 'no listener' | string;
  /** Only when asked for (`payloads` bytes at most). */
  payload: string | null;
}

export interface DebugOptions {
  /** Entries kept (default 1000). */
  capacity?: number;
  /** Bytes of each payload kept (default 0: none). */
  payloads?: number;
}

export interface DebugClient extends BaseClient {
  /** Debug mode for this browser's hub (every tab's log lines reach the consoles). */
  debug(on?: boolean, options?: DebugOptions): Promise<boolean>;
  /** The event log, oldest first (export it with JSON.stringify). */
  debugLog(): Promise<DebugEntry[]>;
  clearDebugLog(): Promise<boolean>;
  /** Each new entry while debug mode is on. */
  onDebug(fn: (entry: DebugEntry) => void): void;
  /** The hub's view: server, status, auth, security, and per namespace its tabs (visibility,
   * leader, rooms, subscriptions), rooms, queue and emits in flight. */
  inspect(): Promise<Record<string, unknown>>;
  /** Skips the rest of a reconnection backoff; false when none was under way. */
  retryNow(): Promise<boolean>;
}

export function connect(options?: ConnectOptions & { debug?: boolean | DebugOptions }): Promise<DebugClient>;
export function attachDebug(client: BaseClient, options?: { debug?: boolean | DebugOptions }): Promise<DebugClient>;
