//! A hub's settings: the defaults, and the connection options the first tab of an endpoint
//! asked for.

use crate::backoff::BackoffConfig;
use crate::port::Options;

#[derive(Debug, Clone, PartialEq)]
pub struct HubConfig {
    pub reconnection: bool,
    pub backoff: BackoffConfig,
    /// How long an attempt may take from opening the WebSocket to the namespace CONNECT.
    pub connect_timeout_ms: u64,
    /// Emits buffered while disconnected, at most (count and bytes).
    pub max_buffered: usize,
    pub max_buffered_bytes: usize,
    /// How long the socket stays open after the last tab left (a reload comes back quickly).
    pub linger_ms: u64,
    /// Durable emits older than this (server time) are dropped with an error, not sent.
    pub max_age_ms: u64,
    pub bearer: bool,
    /// Failed attempts in a row before giving up (0: never).
    pub reconnection_attempts: u32,
}

impl Default for HubConfig {
    fn default() -> Self {
        HubConfig {
            reconnection: true,
            backoff: BackoffConfig::default(),
            connect_timeout_ms: 20_000,
            max_buffered: 10_000,
            max_buffered_bytes: 32 << 20,
            linger_ms: 2_000,
            max_age_ms: 24 * 3600 * 1000,
            bearer: false,
            reconnection_attempts: 0,
        }
    }
}

impl HubConfig {
    /// How long a namespace waits for the server's CONNECT answer (and a room for its
    /// join): the connect timeout, or the default where `timeout: 0` times attempts out.
    pub fn join_timeout_ms(&self) -> u64 {
        if self.connect_timeout_ms == 0 {
            HubConfig::default().connect_timeout_ms
        } else {
            self.connect_timeout_ms
        }
    }

    /// Takes the connection options a tab asked for.
    pub fn apply(&mut self, o: &Options) {
        self.reconnection = o.reconnection;
        self.backoff = BackoffConfig {
            min_ms: o.reconnection_delay_ms as u64,
            // A cap below the first delay caps it too, as socket.io-client's backoff does.
            max_ms: o.reconnection_delay_max_ms as u64,
            // A NaN from a page would survive clamp(): fall back to the default.
            randomization: if o.randomization_factor.is_finite() {
                (o.randomization_factor as f64).clamp(0.0, 1.0)
            } else {
                BackoffConfig::default().randomization
            },
        };
        // 0 times every attempt out at once, as socket.io-client's `timeout: 0` does.
        self.connect_timeout_ms = o.timeout_ms as u64;
        if o.max_queue > 0 {
            self.max_buffered = o.max_queue as usize;
        }
        if o.max_queue_bytes > 0 {
            self.max_buffered_bytes = o.max_queue_bytes as usize;
        }
        if o.max_queue_age_ms > 0 {
            self.max_age_ms = o.max_queue_age_ms;
        }
        self.bearer = o.bearer;
        self.reconnection_attempts = o.reconnection_attempts;
    }
}
