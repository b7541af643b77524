// Types for switchboard.js, the Switchboard page client.

export type Status = 'connecting' | 'connected' | 'reconnecting' | 'offline' | 'disconnected' | 'failed';

export interface StatusDetail {
  status: Status;
  /** Socket.IO session id, when connected. */
  sid?: string;
  /** Reconnection attempt number and the delay (ms) before it, when reconnecting. */
  attempt?: number;
  delay?: number;
  /** Why: the hub stopped (disconnected, e.g. "connect_error: ..."), gave up (failed), or the
   * last attempt failed (reconnecting: "the server refused the connection: HTTP 403: ...",
   * "cannot reach host:port (...)", "connect timeout", "transport close", ...). */
  reason?: string;
  /** After a reconnection to a contract server: whether every missed numbered event was replayed. */
  recovered?: boolean;
}

export interface ConnectOptions {
  /** Server origin (http(s):// or ws(s)://), default: this page's origin. A path is taken as the namespace. */
  url?: string;
  /** Engine.IO path, default "/socket.io". */
  path?: string;
  /** Socket.IO namespace, default "/". */
  namespace?: string;
  /** Payload of the namespace CONNECT packet. Tabs with different auth get different connections. */
  auth?: Record<string, unknown>;
  /** emitWithAck timeout in ms, default 10000; 0 waits forever. */
  ackTimeout?: number;
  /** Reconnection, as socket.io-client: default true, 1000 ms, 5000 ms, 0.5. Set by the first tab of an endpoint. */
  reconnection?: boolean;
  reconnectionDelay?: number;
  reconnectionDelayMax?: number;
  randomizationFactor?: number;
  /** Failed attempts in a row before the hub gives up (status "failed"), default Infinity. */
  reconnectionAttempts?: number;
  /** connect() rejects when the hub has not answered in this many ms (its worker or wasm did
   * not load), default 10000; the error names the URL and its HTTP status. */
  loadTimeout?: number;
  /** Connection attempt timeout in ms, default 20000. */
  timeout?: number;
  /** Offline queue bounds (set by the first tab of an endpoint): events (default 10000), bytes (32 MiB), age in ms (24 h). */
  maxQueue?: number;
  maxQueueBytes?: number;
  maxQueueAge?: number;
  /** "bearer": the access token lives in the hub's memory only (see `token()`); default: HttpOnly cookies. */
  authMode?: 'cookie' | 'bearer';
  /** URL of `switchboard-sw.js` to register: delivers the queue and refreshes sign-in while every tab sleeps. */
  serviceWorker?: string;
  /** Leader election scope: "browser" (this browser's tabs of the endpoint, default) or "user"
   * (every tab of the signed-in user, on every device; needs a server that takes part). */
  leaderScope?: 'browser' | 'user';
  /** Called once with the client as its Hello goes out, before `connect()` resolves: handlers
   * registered here catch what the server emits on connection (registered after `await
   * connect()`, an event sent at once on connection can arrive first and go unheard). */
  setup?: (client: Client) => void;
  /** Where the hub runs (default: the best this browser has). "shared-worker": one
   * SharedWorker for every tab of the origin; "leader-tab" (no SharedWorker, Web Locks): one
   * tab's dedicated worker serves the others over a BroadcastChannel, another takes over when
   * it closes, crashes or freezes; "per-tab" (neither): each tab its own hub and connection. */
  mode?: Mode;
  /** URL of the hub's `switchboard-worker.js` when it is not served beside this module (by
   * default it is found through `new URL('./switchboard-worker.js', import.meta.url)`, which
   * Vite and webpack follow). */
  workerUrl?: string | URL;
}

export type Mode = 'shared-worker' | 'leader-tab' | 'per-tab';

/** Any JSON value, or binary data (sent as Socket.IO attachments; received as ArrayBuffer). */
export type Arg = unknown;

export interface AuthState {
  /** The signed-in user, or null. */
  user: string | null;
  /** Access-token expiry, server time in ms since the epoch. */
  expiresAt: number | null;
  /** Why the last refresh failed while still signed in (the hub retries with backoff). */
  error: string | null;
  /** Why the user was signed out ("logout", "refresh token reuse detected", ...). */
  signedOut: string | null;
  telemetry: { refreshes: number; lastMs: number; maxMs: number; meanMs: number; failures: Record<string, number>; signOuts: Record<string, number> };
}

/** Which tab leads (by Page Lifecycle priority: active > passive > hidden > frozen, a
 * challenger taking over after holding a higher level 500 ms). Decided by the server when it
 * takes part (LEADER_ELECTED), else by the hub among this browser's tabs (scope "browser").
 * `term` is the fencing token: it rises with every change of leader. */
/** One member of a room: a user (null: not signed in) on a device (null: unknown) and the
 * ids of its tabs in the room. */
export interface Member {
  user: string | null;
  device: string | null;
  tabs: string[];
}

export interface LeaderInfo {
  isLeader: boolean;
  /** The leading tab's id (another device's tab in scope "user"), or null. */
  leader: string | null;
  term: number;
  scope: 'browser' | 'user';
}

/** Event names and their handler signatures, as socket.io-client's `Socket<ListenEvents,
 * EmitEvents>`: `connect<{ chat: (m: Msg) => void }, { say: (text: string) => void }>()`. */
export interface EventsMap {
  [event: string]: any;
}
/** Any event, any arguments (the default). */
export interface DefaultEventsMap {
  [event: string]: (...args: any[]) => void;
}
export type EventNames<Map extends EventsMap> = keyof Map & string;
export type EventParams<Map extends EventsMap, Ev extends EventNames<Map>> = Parameters<Map[Ev]>;
type Last<T extends any[]> = T extends [...infer _, infer L] ? L : any;
type AllButLast<T extends any[]> = T extends [...infer H, any] ? H : any[];
type FirstArg<T> = T extends (arg: infer A, ...rest: any[]) => any ? A : any;
/** Removes the listener it was returned for (once; later calls do nothing). */
export type Unsubscribe = () => void;

export interface Client<ListenEvents extends EventsMap = DefaultEventsMap, EmitEvents extends EventsMap = ListenEvents> {
  /** This tab's id. */
  readonly id: string;
  /** Where its hub runs (see `ConnectOptions.mode`). */
  readonly mode: Mode;
  readonly status: Status;
  readonly statusDetail: StatusDetail;
  /** Ids of every tab sharing this connection. */
  readonly tabs: string[];
  /** Rooms this tab is in: the hierarchy rooms the server assigned (user:, session:, device:,
   * its own tab:{id}) and the rooms it joined. */
  readonly rooms: string[];
  /** Returns the function that removes this one registration. */
  on<Ev extends EventNames<ListenEvents>>(event: Ev, handler: ListenEvents[Ev]): Unsubscribe;
  /** Removes one registration of `handler`, or (without it) every handler of `event`. */
  off<Ev extends EventNames<ListenEvents>>(event: Ev, handler?: ListenEvents[Ev]): void;
  /** A function as the last argument receives the server's ack arguments. */
  emit<Ev extends EventNames<EmitEvents>>(event: Ev, ...args: EventParams<EmitEvents, Ev>): void;
  /** Sent only if connected right now; never queued (Socket.IO's volatile). */
  emitVolatile<Ev extends EventNames<EmitEvents>>(event: Ev, ...args: EventParams<EmitEvents, Ev>): void;
  /** To the other members of `room` (this tab must be one), through a contract server; durable like `emit`. */
  to(room: string): { emit<Ev extends EventNames<EmitEvents>>(event: Ev, ...args: EventParams<EmitEvents, Ev>): void };
  /** Server clock minus this browser's clock in ms, once measured (contract servers). */
  readonly clockOffset: number | undefined;
  /** After a reconnection: whether the server replayed everything missed (contract servers). */
  readonly recovered: boolean | undefined;
  /** Durable emits of this tab not yet stored by the hub or delivered. */
  readonly unconfirmed: number;
  /** Resolves with the server's first ack argument; rejects with Error("operation has timed out") after ackTimeout. */
  emitWithAck<Ev extends EventNames<EmitEvents>>(
    event: Ev,
    ...args: AllButLast<EventParams<EmitEvents, Ev>>
  ): Promise<FirstArg<Last<EventParams<EmitEvents, Ev>>>>;
  /** Resolves once the server confirmed; room events then reach this tab. */
  join(room: string): Promise<void>;
  leave(room: string): Promise<void>;
  onStatus(fn: (detail: StatusDetail) => void): Unsubscribe;
  offStatus(fn: (detail: StatusDetail) => void): void;
  onTabs(fn: (tabs: string[]) => void): Unsubscribe;
  offTabs(fn: (tabs: string[]) => void): void;
  /** Sign-in state shared by every tab (null until the hub knows). Tokens never reach the page. */
  readonly auth: AuthState | null;
  onAuth(fn: (auth: AuthState | null) => void): Unsubscribe;
  offAuth(fn: (auth: AuthState | null) => void): void;
  /** Signs every tab in (the hub posts to /auth/login; cookies are HttpOnly). */
  login(username: string, password: string): Promise<void>;
  /** Signs every tab out. */
  logout(): Promise<void>;
  /** Asks for a token refresh: one request however many tabs ask. */
  refresh(): Promise<void>;
  /** Bearer mode: the access token from the hub's memory (refreshed first if about to expire). */
  token(): Promise<string>;
  /** Every event of the namespace, before its own handlers: `fn(event, ...args)`. */
  onAny(fn: (event: string, ...args: any[]) => void): Unsubscribe;
  offAny(fn?: (event: string, ...args: any[]) => void): void;
  /** Who is in `room` (a room this tab is in), by user and device with their tab ids; told
   * within a round trip of every join, leave and tab close. Needs a server that keeps
   * presence (the reference backend); empty against a plain Socket.IO server. */
  members(room: string): Member[];
  onMembers(room: string, fn: (members: Member[]) => void): Unsubscribe;
  offMembers(room: string, fn: (members: Member[]) => void): void;
  /** The leader of this tab's election scope (null until the hub said). */
  readonly leader: LeaderInfo | null;
  onLeader(fn: (leader: LeaderInfo | null) => void): Unsubscribe;
  offLeader(fn: (leader: LeaderInfo | null) => void): void;
  /** Sends `event` only while this tab leads, carrying its term; rejects when it does not
   * lead or the term is stale (checked by the hub, and by a server that takes part). */
  emitAsLeader<Ev extends EventNames<EmitEvents>>(event: Ev, ...args: EventParams<EmitEvents, Ev>): Promise<void>;
  /** Detaches this tab; pending calls reject. */
  close(): void;
}

export function connect<ListenEvents extends EventsMap = DefaultEventsMap, EmitEvents extends EventsMap = ListenEvents>(
  options?: ConnectOptions
): Promise<Client<ListenEvents, EmitEvents>>;

/** Fetches and compiles the page client's wasm ahead of `connect()` (which does it too). */
export function load(): Promise<void>;
