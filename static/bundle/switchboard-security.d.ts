// Types for switchboard-security.js: the Switchboard page client with the security API.
// docs/server-contract.md, "Security events", has the server's side.

import type { Client as BaseClient, ConnectOptions } from './switchboard.js';

/** The hub's security state, the same in every tab of the browser. */
export type SecurityState = 'signed-out' | 'signed-in' | 'verification-required' | 'verifying' | 'revoked';

/** The last security event: its name and the server's fields (a unique `id`,
 * `event_timestamp`, `initiating_entity`, `reason_user`, and the event's own). */
export interface SecurityEvent {
  event:
    | 'SECURITY_SESSION_REVOKED'
    | 'SECURITY_CREDENTIAL_CHANGED'
    | 'SECURITY_SUSPICIOUS_ACTIVITY'
    | 'SECURITY_DEVICE_VERIFICATION_REQUIRED'
    | 'SECURITY_DEVICE_VERIFIED';
  id: string;
  event_timestamp?: number;
  initiating_entity?: string;
  reason_user?: string;
  [field: string]: unknown;
}

export interface Security {
  state: SecurityState;
  lastEvent: SecurityEvent | null;
}

/** One of the user's sessions (`GET /auth/sessions`). */
export interface SessionInfo {
  id: string;
  device: string | null;
  created: number;
  lastSeen: number;
  current: boolean;
  verified: boolean;
}

export interface SecureClient extends BaseClient {
  /** The current state and last event (updated before `onSecurity` handlers run). */
  security: Security;
  /** Calls `fn` on every change of the state or a new security event; returns an unsubscribe. */
  onSecurity(fn: (s: Security) => void): () => void;
  /** Removes one registration of `fn`. */
  offSecurity(fn: (s: Security) => void): void;
  /** The signed-in user's sessions. */
  sessions(): Promise<SessionInfo[]>;
  /** Signs a session out: its id, `'others'` (all but this one) or `'all'`. */
  revokeSession(target: string): Promise<{ revoked: number }>;
  /** Changes the password; the user's other sessions are signed out, this one stays. Rejects
   * with the server's reason (wrong current password, too short). */
  changePassword(current: string, next: string): Promise<{ revoked: number }>;
  /** Confirms this device with the code the user received. Rejects with the tries left. */
  verifyDevice(code: string): Promise<{ verified: true }>;
}

export function connect(options?: ConnectOptions): Promise<SecureClient>;
/** Adds the security API to a client from `switchboard.js`. */
export function attachSecurity(client: BaseClient): Promise<Security>;
