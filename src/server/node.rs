//! One node among several (`--redis redis://…`): the Socket.IO adapter is
//! `socketioxide-redis`'s, so broadcasts, rooms, remote joins and leaves, and broadcast acks
//! reach the sockets of every node through Redis pub/sub. Alone (no `--redis`) the same
//! adapter runs on a driver that publishes nowhere and counts one server, so every handler
//! has one concrete type in both cases (`SocketRef`, `SocketIo`, `AckSender` below).
//!
//! Adapter messages are lossy (pub/sub): what must arrive is numbered by the contract and
//! recovered on reconnection (`sb:seq` / `sb:resume`). Server state other than the adapter's
//! is still each node's own (see README, "Several nodes").

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{FromRedisValue, PushInfo, PushKind};
use socketioxide::adapter::Emitter;
use socketioxide_redis::drivers::{ChanItem, Driver, MessageStream};
use socketioxide_redis::{CustomRedisAdapter, RedisAdapterConfig, RedisAdapterCtr};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::sync::mpsc;

/// The adapter of every namespace.
pub type Adapter = CustomRedisAdapter<Emitter, NodeDriver>;
/// A connected socket (`socketioxide::extract::SocketRef` on this adapter).
pub type SocketRef = socketioxide::extract::SocketRef<Adapter>;
/// The server handle (`socketioxide::SocketIo` on this adapter).
pub type SocketIo = socketioxide::SocketIo<Adapter>;
/// A message's ack (`socketioxide::extract::AckSender` on this adapter).
pub type AckSender = socketioxide::extract::AckSender<Adapter>;

type Handlers = Arc<RwLock<HashMap<String, mpsc::Sender<ChanItem>>>>;

/// Redis, or nothing: a node alone.
#[derive(Clone)]
pub enum NodeDriver {
    /// Publishes nowhere, hears nothing (its streams stay open and silent), one server.
    Alone,
    /// Pub/sub on a connection that reconnects (and resubscribes) after Redis restarts.
    /// `broken` wakes whoever mends what a break lost (`shared::listen`).
    Redis { conn: ConnectionManager, handlers: Handlers, broken: Arc<tokio::sync::Notify> },
}

/// The driver's error (the `redis` client's, printable).
#[derive(Debug)]
pub struct DriverError(redis::RedisError);

impl std::fmt::Display for DriverError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for DriverError {}

impl Driver for NodeDriver {
    type Error = DriverError;

    async fn publish(&self, chan: String, val: Vec<u8>) -> Result<(), Self::Error> {
        let NodeDriver::Redis { conn, broken, .. } = self else { return Ok(()) };
        // Lossy by design: a message Redis did not take is logged, and the node's own
        // sockets still get the broadcast (the adapter sends locally only after a publish
        // that succeeds). What it carried is recovered when the break is mended.
        if let Err(e) = redis::cmd("PUBLISH").arg(&chan).arg(val).query_async::<()>(&mut conn.clone()).await {
            tracing::warn!(%chan, "adapter message lost (Redis: {e})");
            broken.notify_one();
        }
        Ok(())
    }

    async fn subscribe(&self, chan: String, size: usize) -> Result<MessageStream<ChanItem>, Self::Error> {
        let (tx, rx) = mpsc::channel(size);
        match self {
            // A stream that stays open and never yields (its sender is kept for ever: a few
            // per namespace).
            NodeDriver::Alone => std::mem::forget(tx),
            NodeDriver::Redis { conn, handlers, .. } => {
                if let Ok(mut h) = handlers.write() {
                    h.insert(chan.clone(), tx);
                }
                conn.clone().subscribe(&chan).await.map_err(DriverError)?;
            }
        }
        Ok(MessageStream::new(rx))
    }

    async fn unsubscribe(&self, chan: String) -> Result<(), Self::Error> {
        let NodeDriver::Redis { conn, handlers, .. } = self else { return Ok(()) };
        if let Ok(mut h) = handlers.write() {
            h.remove(&chan);
        }
        conn.clone().unsubscribe(&chan).await.map_err(DriverError)
    }

    async fn num_serv(&self, chan: &str) -> Result<u16, Self::Error> {
        let NodeDriver::Redis { conn, .. } = self else { return Ok(1) };
        let (_, count): (String, u16) =
            redis::cmd("PUBSUB").arg("NUMSUB").arg(chan).query_async(&mut conn.clone()).await.map_err(DriverError)?;
        Ok(count)
    }
}

/// A pub/sub message to the stream of its channel (dropped, with a log line, when that
/// stream is full or gone); a lost connection wakes `broken`.
fn deliver(msg: PushInfo, handlers: &Handlers, broken: &tokio::sync::Notify) {
    if msg.kind == PushKind::Disconnection {
        tracing::warn!("the Redis connection broke: adapter messages are lost until it is back");
        broken.notify_one();
        return;
    }
    if !matches!(msg.kind, PushKind::Message) || msg.data.len() < 2 {
        return;
    }
    let mut data = msg.data.into_iter();
    let (Some(chan), Some(payload)) = (data.next(), data.next()) else { return };
    let (Ok(chan), Ok(payload)) = (String::from_redis_value(chan), Vec::<u8>::from_redis_value(payload)) else {
        tracing::warn!("a pub/sub message that is not (channel, bytes): dropped");
        return;
    };
    let sender = handlers.read().ok().and_then(|h| h.get(&chan).cloned());
    match sender {
        Some(tx) => {
            if let Err(e) = tx.try_send((chan, payload)) {
                // Lost without a break of the connection: mended like one.
                tracing::warn!("adapter message dropped: {e}");
                broken.notify_one();
            }
        }
        None => tracing::debug!(%chan, "a message for a channel nobody listens to"),
    }
}

/// Connects to the Redis at `url` (RESP3): one multiplexed connection that reconnects with
/// backoff and resubscribes its channels, for the adapter and for the shared state.
pub async fn connect(url: &str) -> Result<(NodeDriver, ConnectionManager), String> {
    let client = redis::Client::open(format!("{url}{}", resp3(url))).map_err(|e| format!("--redis {url}: {e}"))?;
    let handlers: Handlers = Arc::default();
    let broken = Arc::new(tokio::sync::Notify::new());
    let (h, b) = (handlers.clone(), broken.clone());
    let config = ConnectionManagerConfig::new()
        .set_push_sender(move |msg: PushInfo| {
            deliver(msg, &h, &b);
            Ok::<(), redis::aio::SendError>(())
        })
        .set_automatic_resubscription()
        .set_min_delay(Duration::from_millis(50))
        .set_max_delay(Duration::from_secs(1))
        .set_number_of_retries(usize::MAX)
        .set_connection_timeout(Some(Duration::from_secs(2)))
        .set_response_timeout(Some(Duration::from_secs(5)));
    let conn = ConnectionManager::new_with_config(client, config).await.map_err(|e| format!("--redis {url}: {e}"))?;
    Ok((NodeDriver::Redis { conn: conn.clone(), handlers, broken }, conn))
}

/// The adapter's constructor state on `driver`.
pub fn adapter(driver: NodeDriver) -> RedisAdapterCtr<NodeDriver> {
    RedisAdapterCtr::new_with_driver(driver, RedisAdapterConfig::default())
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
