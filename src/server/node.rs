//! One node among several (`--redis redis://…`): the Socket.IO adapter is
//! `socketioxide-redis`'s, so broadcasts, rooms, remote joins and leaves, and broadcast acks
//! reach the sockets of every node through Redis pub/sub. Alone (no `--redis`) the same
//! adapter runs on a driver that publishes nowhere and counts one server, so every handler
//! has one concrete type in both cases (`SocketRef`, `SocketIo`, `AckSender` below).
//!
//! Adapter messages are lossy (pub/sub): what must arrive is numbered by the contract and
//! recovered on reconnection (`sb:seq` / `sb:resume`). Server state other than the adapter's
//! is still each node's own (see README, "Several nodes").

use socketioxide::adapter::Emitter;
use socketioxide_redis::drivers::redis::{redis_client, RedisDriver, RedisError};
use socketioxide_redis::drivers::{ChanItem, Driver, MessageStream};
use socketioxide_redis::{CustomRedisAdapter, RedisAdapterConfig, RedisAdapterCtr};
use tokio::sync::mpsc;

/// The adapter of every namespace.
pub type Adapter = CustomRedisAdapter<Emitter, NodeDriver>;
/// A connected socket (`socketioxide::extract::SocketRef` on this adapter).
pub type SocketRef = socketioxide::extract::SocketRef<Adapter>;
/// The server handle (`socketioxide::SocketIo` on this adapter).
pub type SocketIo = socketioxide::SocketIo<Adapter>;
/// A message's ack (`socketioxide::extract::AckSender` on this adapter).
pub type AckSender = socketioxide::extract::AckSender<Adapter>;

/// Redis, or nothing: a node alone.
#[derive(Clone)]
pub enum NodeDriver {
    /// Publishes nowhere, hears nothing (its streams stay open and silent), one server.
    Alone,
    Redis(RedisDriver),
}

impl Driver for NodeDriver {
    type Error = RedisError;

    async fn publish(&self, chan: String, val: Vec<u8>) -> Result<(), Self::Error> {
        match self {
            NodeDriver::Alone => Ok(()),
            NodeDriver::Redis(d) => d.publish(chan, val).await,
        }
    }

    async fn subscribe(&self, chan: String, size: usize) -> Result<MessageStream<ChanItem>, Self::Error> {
        match self {
            NodeDriver::Alone => {
                // A stream that stays open and never yields (its sender is kept for ever: a
                // few per namespace).
                let (tx, rx) = mpsc::channel(1);
                std::mem::forget(tx);
                Ok(MessageStream::new(rx))
            }
            NodeDriver::Redis(d) => d.subscribe(chan, size).await,
        }
    }

    async fn unsubscribe(&self, chan: String) -> Result<(), Self::Error> {
        match self {
            NodeDriver::Alone => Ok(()),
            NodeDriver::Redis(d) => d.unsubscribe(chan).await,
        }
    }

    async fn num_serv(&self, chan: &str) -> Result<u16, Self::Error> {
        match self {
            NodeDriver::Alone => Ok(1),
            NodeDriver::Redis(d) => d.num_serv(chan).await,
        }
    }
}

/// The adapter's constructor state: Redis at `url` (RESP3), or a node alone.
pub async fn adapter(url: Option<&str>) -> Result<RedisAdapterCtr<NodeDriver>, String> {
    let driver = match url {
        None => NodeDriver::Alone,
        Some(url) => {
            let client = redis_client::Client::open(format!("{url}{}", resp3(url)))
                .map_err(|e| format!("--redis {url}: {e}"))?;
            NodeDriver::Redis(RedisDriver::new(&client).await.map_err(|e| format!("--redis {url}: {e}"))?)
        }
    };
    Ok(RedisAdapterCtr::new_with_driver(driver, RedisAdapterConfig::default()))
}

/// The query that asks the `redis` client for RESP3 (its pub/sub needs it), unless given.
fn resp3(url: &str) -> &'static str {
    if url.contains("protocol=") {
        ""
    } else if url.contains('?') {
        "&protocol=resp3"
    } else {
        "?protocol=resp3"
    }
}

#[cfg(test)]
mod tests {
    use super::resp3;

    #[test]
    fn resp3_is_asked_for_unless_the_url_says() {
        assert_eq!(resp3("redis://127.0.0.1:6379"), "?protocol=resp3");
        assert_eq!(resp3("redis://127.0.0.1:6379/?db=1"), "&protocol=resp3");
        assert_eq!(resp3("redis://h/?protocol=resp3"), "");
    }
}
