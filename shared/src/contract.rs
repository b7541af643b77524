//! The Switchboard server contract (docs/server-contract.md): event names, payload shapes,
//! limits and the browser-side names (worker, locks) shared by the hub, the page client and
//! the reference backend. Invariant: an `sb:` name or a shared limit is written here once;
//! both ends use these definitions (tests that check the wire may spell them out).

use serde::{Deserialize, Serialize};

/// Every contract event starts with this; tabs may not emit such names.
pub const PREFIX: &str = "sb:";

/// Server → hub after CONNECT: the server speaks the contract ([`Hello`]).
pub const HELLO: &str = "sb:hello";
/// Hub → server: `sb:emit id event ...args`, a durable emit acked with a [`Receipt`].
pub const EMIT: &str = "sb:emit";
/// Hub → server: `sb:join room` / `sb:leave room`, acked with a [`Receipt`].
pub const JOIN: &str = "sb:join";
pub const LEAVE: &str = "sb:leave";
/// Server → hub: `sb:room room event ...args`, an event for the tabs in `room`.
pub const ROOM: &str = "sb:room";
/// Hub → server, inside `sb:emit id sb:to room event ...args`: `event(...args)` for the
/// other members of `room`, which the sender must be in (the server answers the receipt
/// with an error otherwise) and sends on as `sb:room`.
pub const TO: &str = "sb:to";
/// Server → hub: `sb:tab tab event ...args`, an event for one tab.
pub const TAB: &str = "sb:tab";
/// Hub → server: `sb:tabs [tab ids]`, the tabs this socket serves.
pub const TABS: &str = "sb:tabs";
/// Hub → server: `sb:time`, acked with [`TimeReply`] (clock-offset sample).
pub const TIME: &str = "sb:time";
/// Server → hub: `sb:seq n event ...args`, a numbered event (replayable).
pub const SEQ: &str = "sb:seq";
/// Hub → server: `sb:resume after`; the server re-sends the numbered events after `after`,
/// then acks with [`ResumeReply`].
pub const RESUME: &str = "sb:resume";
/// Hub → server (bearer mode): `sb:auth {token}`, renewed credentials for the open socket.
pub const AUTH: &str = "sb:auth";

/// Why a tab's ack fails when the connection ends after its emit went out (the server's
/// answer can no longer come): socket.io-client's words.
pub const ACK_DISCONNECTED: &str = "socket has been disconnected";

/// Leader election (docs/server-contract.md, "Leader election"). Server → hub, each with an
/// [`Elected`] payload: `LEADER_ELECTED` when the holder or the term of a scope changes (and
/// in answer to every priority report), `LEADER_HEARTBEAT` when the leader's lease is
/// renewed; `ELECTION_REQUEST {scope}` asks for a priority report at once.
pub const LEADER_ELECTED: &str = "LEADER_ELECTED";
pub const LEADER_HEARTBEAT: &str = "LEADER_HEARTBEAT";
pub const ELECTION_REQUEST: &str = "ELECTION_REQUEST";
/// Hub → server: `sb:priority` [`PriorityReport`] (this socket's candidates for a scope, all
/// of them each time), `sb:renew` and `sb:resign` [`LeaderClaim`] (the leader's hub renews
/// its lease; a leader that leaves gives it up).
pub const PRIORITY: &str = "sb:priority";
pub const RENEW: &str = "sb:renew";
pub const RESIGN: &str = "sb:resign";

/// Presence (docs/server-contract.md, "Presence"). Hub → server: `sb:presence`
/// [`PresenceReport`], which of its tabs are in a room it is in (sent whenever that changes).
/// Server → the room's sockets, in an `sb:room` envelope: `sb:members` [`Members`], everyone
/// in the room, after every change (a join, a report, a leave, a disconnect). The hub
/// delivers it to its tabs in the room whether or not they subscribed.
pub const PRESENCE: &str = "sb:presence";

/// `sb:presence`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PresenceReport {
    pub room: alloc::string::String,
    pub tabs: alloc::vec::Vec<alloc::string::String>,
}

/// One member of a room in `sb:members`: a user (None: not signed in) on a device (None:
/// unknown), with the ids of its tabs in the room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub user: Option<alloc::string::String>,
    pub device: Option<alloc::string::String>,
    pub tabs: alloc::vec::Vec<alloc::string::String>,
}

/// `sb:members`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Members {
    pub room: alloc::string::String,
    pub members: alloc::vec::Vec<Member>,
}

/// Shared state (docs/server-contract.md, "Shared state"). Tab → hub: `sb:set [key, value]`
/// (no value: delete), an `emitWithAck` the hub answers with the settled entry. Hub →
/// server, inside the durable envelope: `sb:emit id sb:set key ctx [value]` (`ctx` the
/// version the hub last saw, `id` the `(client, mutation)` pair the server dedups by).
/// Server → every socket of the scope: `STATE_UPDATE` (below). Hub → server: `sb:state`
/// after `sb:hello` (acked with `[[update, ...]]`, every key of the scope).
/// Hub → tab: `sb:state [entries, reset]`, each entry `[key, value, version, conflict,
/// deleted]` (the whole snapshot with `reset` when a tab subscribes or the user signs out,
/// then each change).
pub const STATE_SET: &str = "sb:set";
pub const STATE_UPDATE: &str = "STATE_UPDATE";
pub const STATE: &str = "sb:state";
/// Event name of a snapshot entry in the hub's storage (beside the queued emits).
pub const STATE_SNAPSHOT: &str = "sb:snapshot";
/// Limits: a key's bytes, a value's JSON bytes, and keys per scope.
pub const MAX_STATE_KEY: usize = 256;
pub const MAX_STATE_VALUE: usize = 64 * 1024;
pub const MAX_STATE_KEYS: usize = 1000;

/// `STATE_UPDATE {key, value, version, conflict?, mutation?}`: a key's settled value (null:
/// deleted, with `deleted: true`), its version (node → counter), what a concurrent write
/// overwrote (if anything was lost), and the id of the write that settled it (so its hub can
/// answer the tab that made it). The reference backend's type is `server::state::Update`.
pub const STATE_FIELDS: [&str; 6] = ["key", "value", "version", "conflict", "mutation", "deleted"];

/// Why a state key or value is refused, if it is.
pub fn check_state(key: &str, value_len: usize) -> Result<(), &'static str> {
    if key.is_empty() || key.len() > MAX_STATE_KEY {
        return Err("state key must be 1..256 bytes");
    }
    if value_len > MAX_STATE_VALUE {
        return Err("state value over 64 KB");
    }
    Ok(())
}

/// Election scopes: `browser` (this browser's tabs of an endpoint, the default) and `user`
/// (every tab of the signed-in user, on every device).
pub const SCOPE_BROWSER: &str = "browser";
pub const SCOPE_USER: &str = "user";
pub const SCOPES: [&str; 2] = [SCOPE_BROWSER, SCOPE_USER];
/// How long a leader's lease lasts unless its hub renews it (the reference backend's
/// default; a server says its own in every [`Elected`]). The hub renews at a third of it.
pub const LEASE_MS: u64 = 9_000;
/// How long after CONNECT a hub waits for `LEADER_ELECTED` before it elects among its own
/// tabs (scope `browser`): the server does not take part.
pub const ELECTION_WAIT_MS: u64 = 1_000;
/// Tab ids are at most this long (the page client's are 24 hex digits).
pub const MAX_TAB_ID: usize = 64;
/// Most tabs one socket may list in a priority or presence report, or serve (`sb:tabs`).
pub const MAX_REPORTED_TABS: usize = 256;
/// Longest durable-emit id (`sb:emit`) a server keeps in its dedup window, in bytes (a hub's
/// are `{tab}-{seq}`: at most 64 + 1 + 20).
pub const MAX_EMIT_ID: usize = 128;
/// The reference backend's default for the most rooms one socket may be in (a hub joins for
/// all its tabs; `--max-rooms`).
pub const MAX_ROOMS: usize = 4096;

/// The most binary attachments one Socket.IO packet may declare (socket.io's default is
/// 10 000, each one buffered until the packet is whole).
pub const MAX_ATTACHMENTS: usize = 256;

/// Why a list of tab ids (`sb:tabs`, presence, priorities) is refused, if it is.
pub fn check_tabs<'a>(tabs: impl ExactSizeIterator<Item = &'a str>) -> Result<(), &'static str> {
    if tabs.len() > MAX_REPORTED_TABS {
        return Err("more than 256 tabs in one list");
    }
    for t in tabs {
        if t.is_empty() || t.len() > MAX_TAB_ID {
            return Err("tab id must be 1..64 bytes");
        }
    }
    Ok(())
}

/// Why an election message is refused, if it is: the scope is known, the term is a safe
/// integer, the tab id is 1..=MAX_TAB_ID bytes.
pub fn check_claim(scope: &str, term: u64, tab: Option<&str>) -> Result<(), &'static str> {
    if !SCOPES.contains(&scope) {
        return Err("unknown election scope (browser or user)");
    }
    if term > MAX_TERM {
        return Err("term out of range");
    }
    if tab.is_some_and(|t| t.is_empty() || t.len() > MAX_TAB_ID) {
        return Err("tab id must be 1..64 bytes");
    }
    Ok(())
}
/// Terms stay exact in JSON numbers (2^53 - 1).
pub const MAX_TERM: u64 = (1 << 53) - 1;

/// `LEADER_ELECTED` / `LEADER_HEARTBEAT`: the scope's leader (a tab id; None: no tab), its
/// term (the fencing token: it rises with every change of holder) and its lease.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Elected {
    pub scope: alloc::string::String,
    pub leader: Option<alloc::string::String>,
    pub term: u64,
    #[serde(rename = "leaseMs")]
    pub lease_ms: u64,
}

/// `ELECTION_REQUEST`'s payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ElectionRequest {
    pub scope: alloc::string::String,
}

/// One candidate in a [`PriorityReport`]: a tab id and its Page Lifecycle level (0 frozen,
/// 1 hidden, 2 passive, 3 active).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Candidate {
    pub tab: alloc::string::String,
    pub level: u8,
}

/// `sb:priority`: every candidate this socket has in `scope` (none: it has left), and the
/// highest term the hub has seen, which the server's next term must exceed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PriorityReport {
    pub scope: alloc::string::String,
    pub term: u64,
    pub tabs: alloc::vec::Vec<Candidate>,
}

/// `sb:renew`, `sb:resign` and the claim of `sb:lead`: this tab leads `scope` in `term`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaderClaim {
    pub scope: alloc::string::String,
    pub tab: alloc::string::String,
    pub term: u64,
}

/// Security events (server → the affected sockets, then to subscribed tabs), in OpenID CAEP's
/// spirit: each with a unique `id` (the hub drops repeats), `event_timestamp` (ms since the
/// epoch), `initiating_entity` (`user`, `admin`, `policy`, `system`) and `reason_user`.
/// `SECURITY_SUSPICIOUS_ACTIVITY {kind, device, at, action}`: `kind` `failed-logins` (a
/// burst of failed sign-ins on the account) or `new-device` (a sign-in from a device not seen
/// for this user); `action` `none`, `verify` or `reauth`.
pub const SECURITY_PREFIX: &str = "SECURITY_";
pub const SECURITY_SUSPICIOUS_ACTIVITY: &str = "SECURITY_SUSPICIOUS_ACTIVITY";
/// `SECURITY_SESSION_REVOKED {scope}` (`session`, `others`, `all`) to a revoked session's
/// sockets, after the server ended the session and before it disconnects them (with
/// `TOKEN_INVALIDATED`).
pub const SECURITY_SESSION_REVOKED: &str = "SECURITY_SESSION_REVOKED";
/// `SECURITY_CREDENTIAL_CHANGED {credential, change}` (`password`, `update`) to every socket
/// of the user; the other sessions are then revoked (`SECURITY_SESSION_REVOKED`).
pub const SECURITY_CREDENTIAL_CHANGED: &str = "SECURITY_CREDENTIAL_CHANGED";
/// `SECURITY_DEVICE_VERIFICATION_REQUIRED {challenge, method, expiresAt}` to each socket of a
/// limited session (a new device, with verification on) when it connects; its `id` is the
/// challenge's. Until the code is confirmed (`POST /auth/verify`) the socket may connect but
/// its app events, joins and state writes are refused with [`NOT_VERIFIED`].
pub const SECURITY_DEVICE_VERIFICATION_REQUIRED: &str = "SECURITY_DEVICE_VERIFICATION_REQUIRED";
/// `SECURITY_DEVICE_VERIFIED {device}` to the session's sockets once its code was confirmed.
pub const SECURITY_DEVICE_VERIFIED: &str = "SECURITY_DEVICE_VERIFIED";
/// The error a limited session's app events, joins and state writes get.
pub const NOT_VERIFIED: &str = "this device is not verified yet: confirm the code first";
/// Hub ⇄ tab: the hub's security state (`[state, lastEvent]`, to tabs that subscribe; a new
/// subscriber gets the current one), and a tab's security request (`emitWithAck('sb:security',
/// op, arg)`: `sessions`, `revoke` id|`others`|`all`, `password` {current, new}, `verify` code),
/// which the hub makes over HTTP with the session's credentials and answers with the JSON body.
pub const SECURITY: &str = "sb:security";
/// The hub's security states (`client.security.state`).
pub const SECURITY_STATES: [&str; 5] = ["signed-out", "signed-in", "verification-required", "verifying", "revoked"];
/// The W3C `traceparent` of durable emit `id` (version 00, sampled): derived from the id on
/// both ends (two FNV-1a hashes for the trace id, a third for the parent span), so the hub's
/// debug log and the server's log lines name the same trace without a byte more on the wire,
/// and every resend of the emit carries the same one.
pub fn traceparent(id: &str) -> alloc::string::String {
    let fnv = |seed: u64| {
        id.bytes().fold(0xcbf2_9ce4_8422_2325 ^ seed, |h, b| (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3))
    };
    alloc::format!("00-{:016x}{:016x}-{:016x}-01", fnv(1), fnv(2), fnv(3).max(1))
}

/// Hub → server, debug mode only, to a server that announced [`Hello::trace`]: `sb:trace
/// [traceparent]` just before a tab's event (plain, acked or a durable `sb:emit`); the server
/// continues that W3C trace for the next event it gets on the socket (its span and log line),
/// and a durable emit's receipt names it ([`Receipt::Traced`]). A join's or leave's trace
/// travels inside `sb:join` / `sb:leave` instead.
pub const TRACE: &str = "sb:trace";

/// Hub ⇄ tab, debugging (never sent to a server): a tab's `emitWithAck('sb:debug', op, arg)`
/// — `on` `{capacity, payloads}`, `off`, `log` (the event log, a JSON array), `inspect` (the
/// hub's view, a JSON object), `clear` — and, while debug mode is on, the entries streamed to
/// tabs that subscribe (`sb:debug [entry, ...]`) and the hub's log lines (`sb:log [level, line]`).
pub const DEBUG: &str = "sb:debug";
pub const LOG: &str = "sb:log";
/// The event log's default capacity (entries), its largest, and the largest payload kept.
pub const DEBUG_LOG_SIZE: usize = 1000;
pub const MAX_DEBUG_LOG_SIZE: usize = 100_000;
pub const MAX_DEBUG_PAYLOAD: usize = 64 * 1024;
/// Server → socket: a message over the server's limits (`{error, limit: 'size' | 'rate', max}`),
/// sent just before the server disconnects the socket.
pub const LIMIT: &str = "sb:limit";
/// The reference backend's default limits per socket: message size (bytes, the Engine.IO
/// `maxPayload` it announces is twice this, so a larger message still gets the error), and
/// rate (messages per second, with a burst).
pub const MAX_MESSAGE: usize = 100_000;
pub const RATE: u32 = 1000;
pub const BURST: u32 = 2000;
/// The hub's limit per tab (messages per second and burst); a tab over it gets its messages
/// refused, never the other tabs'.
pub const TAB_RATE: u32 = 1000;
pub const TAB_BURST: u32 = 2000;

/// Token events (server → hub, also delivered to subscribed tabs).
pub const TOKEN_EXPIRING: &str = "TOKEN_EXPIRING";
pub const TOKEN_UPDATED: &str = "TOKEN_UPDATED";
pub const TOKEN_INVALIDATED: &str = "TOKEN_INVALIDATED";

/// The contract's version, in [`Hello::v`].
pub const VERSION: u32 = 1;

/// Longest room name (and event or tab name) in bytes.
pub const MAX_NAME: usize = 512;

/// Why a room name is refused (same words on both ends).
pub const ROOM_NAME_ERROR: &str = "room name must be 1..512 bytes";

/// A room name both ends accept.
pub fn valid_room(room: &str) -> Result<(), &'static str> {
    if room.is_empty() || room.len() > MAX_NAME {
        return Err(ROOM_NAME_ERROR);
    }
    Ok(())
}

/// Why a refresh was refused when the server does not know the session (it ended, expired,
/// or a restart without `--data-dir` forgot it): what every tab shows when it is signed out.
pub const SESSION_UNKNOWN: &str =
    "the server ended this session (expired, revoked, or forgotten by a restart); sign in again";

/// `sb:hello`'s payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    pub v: u32,
    /// The server drops a second `sb:emit` with the same id.
    pub dedup: bool,
    /// The server's wall clock (ms since the Unix epoch).
    pub time: u64,
    /// The server's limits per socket, which the hub paces itself to (absent: none told).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<Limits>,
    /// The server reads a `{traceparent}` after the room of `sb:join` / `sb:leave` and names it
    /// in its receipt, and reads [`TRACE`] before an event (the hub sends them only in debug
    /// mode).
    #[serde(default, skip_serializing_if = "core::ops::Not::not")]
    pub trace: bool,
    /// The last number the server's replay log gave (`sb:seq`): a hub that has seen no
    /// numbered event yet resumes after it when it comes back, so what was published while it
    /// was away is replayed (or it is told it was not).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
}

/// Limits a server announces in `sb:hello`: largest message (bytes), messages per second, burst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    pub size: usize,
    pub rate: u32,
    pub burst: u32,
}

/// The ack of `sb:emit`, `sb:join` and `sb:leave`: `{"ok": true}` or `{"error": "..."}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Receipt {
    /// Done, naming the trace the request carried (`sb:join` / `sb:leave` with a
    /// `traceparent`, or `sb:emit` after an `sb:trace`, to a server that announced `trace` in
    /// `sb:hello`).
    Traced {
        ok: bool,
        traceparent: alloc::string::String,
    },
    Ok {
        ok: bool,
    },
    Error {
        error: alloc::string::String,
    },
}

impl Receipt {
    pub const OK: Receipt = Receipt::Ok { ok: true };
}

/// Field of [`Receipt::Error`], read by the hub's JSON scanner.
pub const ERROR_FIELD: &str = "error";

/// The ack of `sb:time`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimeReply {
    pub time: u64,
}
pub const TIME_FIELD: &str = "time";

/// The ack of `sb:resume`: whether everything after the hub's number was still kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResumeReply {
    pub recovered: bool,
}
pub const RECOVERED_FIELD: &str = "recovered";

/// Hierarchy rooms the server puts a signed-in socket in (and only the server).
pub const USER_ROOM: &str = "user:";
pub const SESSION_ROOM: &str = "session:";
pub const DEVICE_ROOM: &str = "device:";
/// A tab's own room (`tab:{id}`), also assigned, never joined.
pub const TAB_ROOM: &str = "tab:";
/// Every assigned-room prefix.
pub const HIERARCHY_ROOMS: [&str; 4] = [USER_ROOM, SESSION_ROOM, DEVICE_ROOM, TAB_ROOM];

/// Why a tab may not join `room`, if it may not: a name both ends accept, and no room the
/// server assigns (alice must not join `user:bob`).
pub fn joinable(room: &str) -> Result<(), &'static str> {
    valid_room(room)?;
    if HIERARCHY_ROOMS.iter().any(|p| room.starts_with(p)) {
        return Err("hierarchy rooms (user:, session:, device:, tab:) are assigned by the server, not joined");
    }
    Ok(())
}

/// Shortest run of token characters taken for a secret in a log line.
pub const REDACT_RUN: usize = 32;

/// `line` with every run of [`REDACT_RUN`] or more token characters (letters, digits,
/// `_-+=.`: hex, base64url and JWT tokens) replaced by `[redacted]`. Both ends pass log
/// lines that may quote what a peer sent through it, so a token a client or server put in
/// the wrong place never reaches a log.
pub fn redact(line: &str) -> alloc::borrow::Cow<'_, str> {
    let token = |c: char| c.is_ascii_alphanumeric() || "_-+=.".contains(c);
    let mut out = alloc::string::String::new();
    let (mut run_start, mut copied) = (None::<usize>, 0);
    for (i, c) in line.char_indices().chain([(line.len(), ' ')]) {
        match (token(c) && i < line.len(), run_start) {
            (true, None) => run_start = Some(i),
            (false, Some(start)) => {
                if i - start >= REDACT_RUN {
                    out.push_str(&line[copied..start]);
                    out.push_str("[redacted]");
                    copied = i;
                }
                run_start = None;
            }
            _ => {}
        }
    }
    if copied == 0 {
        return alloc::borrow::Cow::Borrowed(line);
    }
    out.push_str(&line[copied..]);
    alloc::borrow::Cow::Owned(out)
}

/// Events whose payload is a credential (`sb:auth {token}`): it reaches no log and no
/// Admin UI.
pub const SECRET_EVENTS: [&str; 1] = [AUTH];

/// The name of the event in `raw` (a Socket.IO event's JSON array, name first) if it is a
/// [`SECRET_EVENTS`] one. A name written with escapes counts as secret (the server reads
/// it decoded, so `"sb\u003aauth"` is `sb:auth` too).
pub fn secret_event(raw: &str) -> Option<&'static str> {
    let rest = raw.trim_start().strip_prefix('[')?.trim_start().strip_prefix('"')?;
    let name = &rest[..rest.find('"')?];
    if name.contains('\\') {
        return Some(AUTH);
    }
    SECRET_EVENTS.into_iter().find(|e| *e == name)
}

/// `raw` as it may be shown: a [`secret_event`]'s payload replaced by `"[redacted]"`.
pub fn redact_event(raw: &str) -> alloc::borrow::Cow<'_, str> {
    match secret_event(raw) {
        Some(name) => alloc::borrow::Cow::Owned(alloc::format!("[\"{name}\",\"[redacted]\"]")),
        None => alloc::borrow::Cow::Borrowed(raw),
    }
}

/// Sign-in endpoints under the endpoint's origin, and the headers the hub sends with them.
pub const AUTH_PATH: &str = "/auth/";
pub const CSRF_HEADER: &str = "x-switchboard";
pub const MODE_HEADER: &str = "x-switchboard-mode";

/// Browser-side names, defined with the port protocol (the page client spells them through
/// the generated `protocol.js`).
pub use crate::protocol::{
    ANY_EVENT, ASSIGNED, AUTH_CHANNEL, DB_NAME, DB_STORE, EPOCH_DB, HUB_DROP, HUB_LEADER, HUB_LOCK, HUB_LOST, HUB_PING,
    LEAD, LEADER_BEAT_MS, LEADER_CHANNEL, LEADER_LEASE_MS, LEADER_LOCK, LEADER_SILENCE_MS, MEMBERS, PER_TAB_DB_PREFIX,
    TAB_LOCK_PREFIX, WORKER_NAME,
};

#[cfg(test)]
mod tests {

    #[test]
    fn a_tokens_event_is_redacted_however_it_is_written() {
        let token = "[\"sb:auth\",{\"token\":\"abc\"}]";
        assert_eq!(redact_event(token), "[\"sb:auth\",\"[redacted]\"]");
        assert_eq!(redact_event(" [ \"sb:auth\" ,{\"token\":\"abc\"}]"), "[\"sb:auth\",\"[redacted]\"]");
        assert_eq!(redact_event("[\"sb\\u003aauth\",{\"token\":\"abc\"}]"), "[\"sb:auth\",\"[redacted]\"]");
        assert_eq!(redact_event("[\"chat\",{\"token\":\"abc\"}]"), "[\"chat\",{\"token\":\"abc\"}]");
        for odd in ["", "[", "[\"", "{}", "[1]"] {
            assert_eq!(redact_event(odd), odd);
        }
    }

    #[test]
    fn a_durable_emits_traceparent_is_its_ids_on_both_ends() {
        let t = traceparent("tab-1-7");
        assert_eq!((t.len(), &t[..3], &t[52..]), (55, "00-", "-01"), "{t}");
        assert!(t[3..].chars().all(|c| c.is_ascii_hexdigit() || c == '-'));
        assert_eq!(t, traceparent("tab-1-7"), "stable");
        assert_ne!(t, traceparent("tab-1-8"));
    }

    use super::*;

    #[test]
    fn long_token_runs_are_redacted_and_the_rest_kept() {
        let t = "aaa060a985fb1fd76a06b67d6dd505e3ec5cc423753646efeab1e6c88669b4c2";
        assert_eq!(redact(&alloc::format!("bad \"{t}\", expected a map")), "bad \"[redacted]\", expected a map");
        assert_eq!(redact("socket connected sid=En3khdYbs_6xsJE-"), "socket connected sid=En3khdYbs_6xsJE-");
        assert_eq!(redact(t), "[redacted]");
        assert_eq!(redact("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.abc é"), "[redacted] é");
    }
}
