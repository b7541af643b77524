//! Switchboard's sans-IO core. Nothing here touches a socket, a port, a timer or a clock:
//! inputs (frames, page messages, the current time) go in through `handle_*`, outputs come
//! out of `poll_*`. The worker and page-client crates are thin shells around it.

#![no_std]

extern crate alloc;
#[cfg(test)]
extern crate std;

pub mod arbiter;
pub mod backoff;
pub mod contract;
pub mod engineio;
pub mod hub;
pub mod json;
pub mod page;
pub mod port;
pub mod protocol;
pub mod socketio;
pub mod state;
pub mod vecmap;
pub mod wire;
