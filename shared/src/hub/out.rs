//! What a hub asks its shell to do, and the queue it collects those requests in. Every
//! sub-state-machine that produces output writes here; the switchboard drains it.

use super::{HubId, TabKey};
use crate::engineio;
use crate::port::FromHub;
use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::vec::Vec;

#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// Open a WebSocket to `url`; report its events for `(hub, conn)`.
    Open {
        hub: HubId,
        conn: u32,
        url: String,
    },
    SendText {
        hub: HubId,
        text: String,
    },
    SendBinary {
        hub: HubId,
        bytes: Vec<u8>,
    },
    /// Close the hub's WebSocket (if any) and forget it.
    Close {
        hub: HubId,
    },
    /// Post `msg` to each of `tabs` (encode once, post many).
    Post {
        tabs: Vec<TabKey>,
        msg: FromHub,
    },
    /// The tab said Hello: watch for its silent departure by waiting on its Web Lock
    /// `lock`, and report it with `handle_tab_gone`.
    Watch {
        tab: TabKey,
        lock: String,
    },
    /// Store `record` (a postcard [`crate::port::StoredEmit`]) under `key`; report with
    /// `handle_persisted`.
    Persist {
        key: u64,
        record: Vec<u8>,
    },
    /// Delete the stored emit `key` (delivered, or dropped).
    Unpersist {
        key: u64,
    },
    /// Make an HTTP request (with the browser's cookies) and report it with `handle_http`
    /// (status 0 for a network error).
    Http {
        hub: HubId,
        id: u32,
        post: bool,
        url: String,
        body: Option<String>,
        /// Ask for the access token in the body instead of a cookie (bearer mode).
        bearer: bool,
        /// Bearer mode: the access token, sent as `Authorization: Bearer` (security calls).
        token: Option<String>,
        /// Debug mode: a W3C `traceparent` header for the server's log.
        trace: Option<String>,
    },
    Log(String),
}

/// One hub's pending outputs.
#[derive(Debug)]
pub(crate) struct Out {
    hub: HubId,
    queue: VecDeque<Output>,
}

impl Out {
    pub(crate) fn new(hub: HubId) -> Out {
        Out { hub, queue: VecDeque::new() }
    }

    pub(crate) fn push(&mut self, o: Output) {
        self.queue.push_back(o);
    }

    pub(crate) fn pop(&mut self) -> Option<Output> {
        self.queue.pop_front()
    }

    /// A log line; a line may quote what the server or a tab sent, so token-like runs are
    /// redacted ([`crate::contract::redact`]).
    pub(crate) fn log(&mut self, line: String) {
        let line = match crate::contract::redact(&line) {
            alloc::borrow::Cow::Borrowed(_) => line,
            alloc::borrow::Cow::Owned(redacted) => redacted,
        };
        self.push(Output::Log(line));
    }

    pub(crate) fn post(&mut self, tabs: Vec<TabKey>, msg: FromHub) {
        if !tabs.is_empty() {
            self.push(Output::Post { tabs, msg });
        }
    }

    pub(crate) fn post_one(&mut self, tab: TabKey, msg: FromHub) {
        self.post(alloc::vec![tab], msg);
    }

    /// A Socket.IO packet in an Engine.IO message frame.
    pub(crate) fn send_sio(&mut self, sio: &str) {
        self.push(Output::SendText { hub: self.hub, text: engineio::message(sio) });
    }

    /// An Engine.IO frame as it is (pong).
    pub(crate) fn send_raw(&mut self, text: String) {
        self.push(Output::SendText { hub: self.hub, text });
    }

    pub(crate) fn send_binary(&mut self, bytes: Vec<u8>) {
        self.push(Output::SendBinary { hub: self.hub, bytes });
    }

    pub(crate) fn close(&mut self) {
        self.push(Output::Close { hub: self.hub });
    }

    pub(crate) fn open(&mut self, conn: u32, url: String) {
        self.push(Output::Open { hub: self.hub, conn, url });
    }
}
