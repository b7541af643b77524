// Types for switchboard-react.js: React bindings of the Switchboard page client (React >= 18,
// a peer dependency). Written without React's own types so they check with or without
// @types/react.

import type { AuthState, Client, ConnectOptions, DefaultEventsMap, EventsMap, LeaderInfo, Member, StatusDetail } from './switchboard.js';
import type { Security } from './switchboard-security.js';

export interface SwitchboardProviderProps {
  /** Options of `connect` (providers with equal options share one client). */
  options?: ConnectOptions;
  /** A client the app made itself (then `options` is not used). */
  client?: Client<any, any>;
  children?: any;
}

/** One client for the page however often it renders or mounts (StrictMode too); closed a tick
 * after the last provider that uses it unmounts. */
export function SwitchboardProvider(props: SwitchboardProviderProps): any;

/** The page's client, or null until `connect` resolved (or if it failed: see `useStatus`). */
export function useSwitchboard<L extends EventsMap = DefaultEventsMap, E extends EventsMap = L>(): Client<L, E> | null;
/** The status detail; `{ status: 'connecting' }` until the client is there, `failed` with the
 * reason when `connect` failed. */
export function useStatus(): StatusDetail;
/** Calls the latest `handler` on every `event` while mounted (one registration). */
export function useEvent<L extends EventsMap = DefaultEventsMap, Ev extends keyof L & string = keyof L & string>(
  event: Ev,
  handler: L[Ev]
): void;
/** A stable `emit`; emits before the client is ready wait for it. */
export function useEmit<E extends EventsMap = DefaultEventsMap>(): Client<any, E>['emit'];
/** Joins `room` while mounted (one join however many components ask). */
export function useRoom(room: string): { joined: boolean; members: Member[] };
export function useLeader(): LeaderInfo | null;
export interface UseAuth extends Partial<Omit<AuthState, 'user'>> {
  user: string | null;
  /** Whether the hub has told the sign-in state yet. */
  known: boolean;
  login(username: string, password: string): Promise<void>;
  logout(): Promise<void>;
  refresh(): Promise<void>;
}
export function useAuth(): UseAuth;
/** `[value, set]` of one shared-state key (needs `import 'switchboard-client/state'`). */
export function useSharedState<T = unknown>(key: string): [T | undefined, (next: T | ((current: T | undefined) => T)) => Promise<T>];
/** The security state (needs `import 'switchboard-client/security'`); null until known. */
export function useSecurity(): Security | null;
