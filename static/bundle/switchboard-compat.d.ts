// Types for switchboard-compat.js: socket.io-client 4.8's API over the Switchboard hub.
// `import { io } from './switchboard-compat.js'` where the code imported socket.io-client.

import type { DefaultEventsMap, EventNames, EventParams, EventsMap } from './switchboard.js';
export type { DefaultEventsMap, EventNames, EventParams, EventsMap };
type Last<T extends any[]> = T extends [...infer _, infer L] ? L : any;
type AllButLast<T extends any[]> = T extends [...infer H, any] ? H : any[];
type FirstArg<T> = T extends (arg: infer A, ...rest: any[]) => any ? A : any;

export interface ManagerOptions {
  /** Engine.IO path, default "/socket.io". */
  path?: string;
  /** Reconnection, as socket.io-client: default true, 1000 ms, 5000 ms, 0.5. The first tab of a server sets them. */
  reconnection?: boolean;
  reconnectionDelay?: number;
  reconnectionDelayMax?: number;
  randomizationFactor?: number;
  /** Failed attempts in a row before giving up ("reconnect_failed"), default Infinity. */
  reconnectionAttempts?: number;
  /** The Switchboard hub's load bound: "connect_error" when it has not answered in this many ms, default 10000. */
  loadTimeout?: number;
  /** Connection attempt timeout in ms, default 20000. */
  timeout?: number;
  /** Query parameters of the handshake. */
  query?: Record<string, string>;
  /** Accepted and ignored: the hub speaks WebSocket only (no long-polling, no upgrade). */
  transports?: string[];
  upgrade?: boolean;
  rememberUpgrade?: boolean;
  withCredentials?: boolean;
  extraHeaders?: Record<string, string>;
  /** `reconnect_attempt` on the `setTimeout` the page loaded with, not one replaced later. */
  useNativeTimers?: boolean;
  /** Connect at once (default true); otherwise call `socket.connect()`. */
  autoConnect?: boolean;
  forceNew?: boolean;
  multiplex?: boolean;
}

export interface SocketOptions {
  /** CONNECT payload, or a function called with a callback at each `connect()`. */
  auth?: Record<string, unknown> | ((cb: (data: Record<string, unknown>) => void) => void);
  /** Default timeout (ms) of acknowledgements: callbacks then get `(err, ...args)`. */
  ackTimeout?: number;
  /** Acknowledged delivery: each emit waits for its ack (or `ackTimeout`) and is sent again up to this many times. */
  retries?: number;
}

export type Options = ManagerOptions & SocketOptions;

type Listener = (...args: any[]) => void;

/** socket.io-client's Manager: the hub's shared connection as this tab sees it. */
export declare class Manager {
  constructor(uri?: string, opts?: Partial<Options>);
  constructor(opts?: Partial<Options>);
  readonly opts: Options;
  readonly nsps: Record<string, Socket>;
  /** The connection, as far as a tab sees it: `close()` closes it for every tab (the hub
   * reconnects); `packetCreate` reports this tab's packets. Undefined until `open()`. */
  readonly engine: Engine | undefined;
  /** The socket of namespace `nsp` on this connection (one per namespace, reused). */
  socket(nsp: string, opts?: Partial<SocketOptions>): Socket;
  open(fn?: (err?: Error) => void): this;
  connect(fn?: (err?: Error) => void): this;
  reconnection(): boolean;
  reconnection(v: boolean): this;
  reconnectionAttempts(): number;
  reconnectionAttempts(v: number): this;
  reconnectionDelay(): number;
  reconnectionDelay(v: number): this;
  reconnectionDelayMax(): number;
  reconnectionDelayMax(v: number): this;
  randomizationFactor(): number;
  randomizationFactor(v: number): this;
  timeout(): number;
  timeout(v: number): this;
  on(event: 'reconnect_attempt' | 'reconnect', fn: (attempt: number) => void): this;
  on(event: 'reconnect_error' | 'error', fn: (err: Error) => void): this;
  on(event: 'close', fn: (reason: string) => void): this;
  on(event: 'reconnect_failed' | 'ping' | 'open', fn: () => void): this;
  once(event: string, fn: Listener): this;
  off(event?: string, fn?: Listener): this;
}

export interface Engine {
  readonly transport: { name: 'websocket' };
  close(): this;
  on(event: 'packetCreate', fn: (packet: { type: 'message'; data: string; options: { compress: boolean } }) => void): this;
  off(event?: string, fn?: Listener): this;
}

export type DisconnectReason = 'io server disconnect' | 'io client disconnect' | 'transport close' | 'ping timeout';

/** As socket.io-client's `Socket<ListenEvents, EmitEvents>`: `io<{ chat: (m: Msg) => void }>()`
 * types the names and arguments of events received (`on`) and sent (`emit`). */
export declare class Socket<ListenEvents extends EventsMap = DefaultEventsMap, EmitEvents extends EventsMap = ListenEvents> {
  /** The server's id of the socket (shared by every tab on this namespace: one socket for them all). */
  readonly id: string | undefined;
  readonly connected: boolean;
  readonly disconnected: boolean;
  /** Connected or trying to: false after `disconnect()`, a CONNECT_ERROR or a server disconnect. */
  readonly active: boolean;
  /** After a reconnection: whether the server restored the session (connection state recovery). */
  readonly recovered: boolean;
  readonly io: Manager;
  readonly nsp: string;
  auth: SocketOptions['auth'];
  connect(): this;
  open(): this;
  disconnect(): this;
  close(): this;
  on(event: 'connect', fn: () => void): this;
  on(event: 'disconnect', fn: (reason: DisconnectReason) => void): this;
  on(event: 'connect_error', fn: (err: Error) => void): this;
  on<Ev extends EventNames<ListenEvents>>(event: Ev, fn: ListenEvents[Ev]): this;
  once(event: 'connect', fn: () => void): this;
  once(event: 'disconnect', fn: (reason: DisconnectReason) => void): this;
  once(event: 'connect_error', fn: (err: Error) => void): this;
  once<Ev extends EventNames<ListenEvents>>(event: Ev, fn: ListenEvents[Ev]): this;
  off(event?: string, fn?: Listener): this;
  removeAllListeners(event?: string): this;
  listeners(event: string): Listener[];
  hasListeners(event: string): boolean;
  onAny(fn: (event: string, ...args: any[]) => void): this;
  prependAny(fn: (event: string, ...args: any[]) => void): this;
  offAny(fn?: (event: string, ...args: any[]) => void): this;
  listenersAny(): Listener[];
  onAnyOutgoing(fn: (event: string, ...args: any[]) => void): this;
  prependAnyOutgoing(fn: (event: string, ...args: any[]) => void): this;
  offAnyOutgoing(fn?: (event: string, ...args: any[]) => void): this;
  listenersAnyOutgoing(): Listener[];
  /** The last argument may be an ack callback. */
  emit<Ev extends EventNames<EmitEvents>>(event: Ev, ...args: EventParams<EmitEvents, Ev>): this;
  emitWithAck<Ev extends EventNames<EmitEvents>>(
    event: Ev,
    ...args: AllButLast<EventParams<EmitEvents, Ev>>
  ): Promise<FirstArg<Last<EventParams<EmitEvents, Ev>>>>;
  send(...args: any[]): this;
  write(...args: any[]): this;
  /** Sent only if connected right now. */
  readonly volatile: this;
  /** The next emit's ack callback gets `(err, ...args)`, `err` after `ms` without an ack. */
  timeout(ms: number): this;
  compress(compress: boolean): this;
}

/** `io(uri, opts)`: a socket of the manager of that server (one per server unless
 * `forceNew`, `multiplex: false` or a namespace it already has). */
export declare function io<ListenEvents extends EventsMap = DefaultEventsMap, EmitEvents extends EventsMap = ListenEvents>(
  uri?: string,
  opts?: Partial<Options>
): Socket<ListenEvents, EmitEvents>;
export declare function io<ListenEvents extends EventsMap = DefaultEventsMap, EmitEvents extends EventsMap = ListenEvents>(
  opts?: Partial<Options>
): Socket<ListenEvents, EmitEvents>;
export default io;
