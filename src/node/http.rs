//! `/healthz` and `/metrics` over plain HTTP/1.1. Two read-only endpoints do not justify
//! an HTTP framework: requests are read up to a small limit and answered with one response.

use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tracing::debug;

use super::Node;

/// Serves until the node stops.
pub async fn serve(node: Arc<Node>, listener: TcpListener) {
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                if let Ok((sock, _)) = accepted {
                    let node = node.clone();
                    tokio::spawn(async move { let _ = answer(&node, sock).await; });
                }
            }
            () = node.stopped() => return,
        }
    }
}

async fn answer(node: &Node, mut sock: TcpStream) -> std::io::Result<()> {
    let mut buf = vec![0u8; 4096];
    let mut n = 0;
    // Read the request head (at most 4 KiB, 5 s).
    let read = tokio::time::timeout(std::time::Duration::from_secs(5), async {
        while n < buf.len() {
            let k = sock.read(&mut buf[n..]).await?;
            if k == 0 {
                break;
            }
            n += k;
            if buf[..n].windows(4).any(|w| w == b"\r\n\r\n") {
                break;
            }
        }
        Ok::<_, std::io::Error>(())
    })
    .await;
    if read.is_err() {
        return Ok(());
    }
    let head = String::from_utf8_lossy(&buf[..n]);
    let mut parts = head.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    debug!(method, path, "http request");
    let (code, ctype, body) = match (method, path) {
        ("GET", "/healthz") => {
            if node.healthy() {
                ("200 OK", "text/plain", "ok\n".to_string())
            } else {
                (
                    "503 Service Unavailable",
                    "text/plain",
                    "stopping\n".to_string(),
                )
            }
        }
        ("GET", "/metrics") => {
            let (inbox, outbox) = node.spool.depth();
            (
                "200 OK",
                "text/plain; version=0.0.4",
                node.metrics.render(inbox, outbox),
            )
        }
        ("GET", _) => ("404 Not Found", "text/plain", "not found\n".to_string()),
        _ => (
            "405 Method Not Allowed",
            "text/plain",
            "method not allowed\n".to_string(),
        ),
    };
    let rsp = format!(
        "HTTP/1.1 {code}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    sock.write_all(rsp.as_bytes()).await?;
    sock.shutdown().await
}
