//! Raw HTTP/1.1 for tests that talk to the reference backend without a browser.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub async fn get(addr: std::net::SocketAddr, path: &str, origin: Option<&str>) -> String {
    let origin = origin.map(|o| format!("Origin: {o}\r\n")).unwrap_or_default();
    http(addr, format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n{origin}Connection: close\r\n\r\n")).await
}

/// Sends one raw HTTP/1.1 request and reads the whole answer.
pub async fn http(addr: std::net::SocketAddr, req: String) -> String {
    http_from([127, 0, 0, 1], addr, req).await
}

/// A connection from loopback address `from` (127.0.0.0/8 is all loopback): a client
/// elsewhere, as the server sees it.
pub async fn connect_from(from: [u8; 4], addr: std::net::SocketAddr) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().expect("a socket");
    socket.bind(std::net::SocketAddr::from((from, 0))).expect("bind the source address");
    socket.connect(addr).await.expect("connect")
}

/// [`http`] from loopback address `from`.
pub async fn http_from(from: [u8; 4], addr: std::net::SocketAddr, req: String) -> String {
    let mut s = connect_from(from, addr).await;
    s.write_all(req.as_bytes()).await.expect("write");
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.expect("read");
    String::from_utf8_lossy(&out).into_owned()
}

/// A POST to the sign-in endpoints as the hub makes it (JSON, the CSRF header, cookies).
pub async fn post(addr: std::net::SocketAddr, path: &str, body: &str, cookie: &str) -> String {
    post_from([127, 0, 0, 1], addr, path, body, cookie).await
}

/// [`post`] from loopback address `from`.
pub async fn post_from(from: [u8; 4], addr: std::net::SocketAddr, path: &str, body: &str, cookie: &str) -> String {
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nx-switchboard: 1\r\n\
         Cookie: {cookie}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    http_from(from, addr, req).await
}

/// A `Cookie:` value from a response's `Set-Cookie` named `name`.
pub fn set_cookie(res: &str, name: &str) -> String {
    res.lines()
        .filter_map(|l| l.strip_prefix("set-cookie: ").or_else(|| l.strip_prefix("Set-Cookie: ")))
        .find_map(|c| c.split(';').next().filter(|kv| kv.starts_with(&format!("{name}="))).map(String::from))
        .unwrap_or_default()
}

pub async fn get_with(addr: std::net::SocketAddr, path: &str, cookie: &str) -> String {
    http(addr, format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nCookie: {cookie}\r\nConnection: close\r\n\r\n")).await
}

/// A device named `name` as a browser holds it: its cookie (`sb_device=<secret>`, a
/// well-formed 64-hex secret made from the name) and the public id the server derives.
pub fn device(name: &str) -> (String, String) {
    let hex: String = name.bytes().map(|b| format!("{b:02x}")).collect();
    let secret = format!("{hex:0<64}");
    let id = switchboard::auth::device_of(&secret).expect("a well-formed secret");
    (format!("sb_device={secret}"), id)
}
