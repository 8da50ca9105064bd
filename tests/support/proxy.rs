//! Test relays on loopback that slow connections down or cut them, to make broken and slow
//! networks happen on cue.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpStream;

/// Relays connections to `to`, and cuts each one (both ways) once `limit` bytes have gone
/// one way: `upward` from the client, else from the server.
pub async fn cutting_proxy(to: SocketAddr, limit: usize, upward: bool) -> SocketAddr {
    use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
    type Reader = Box<dyn AsyncRead + Unpin + Send>;
    type Writer = Box<dyn AsyncWrite + Unpin + Send>;
    async fn limited(mut from: Reader, mut to: Writer, limit: usize) {
        let mut left = limit;
        let mut buf = vec![0; 16 * 1024];
        while left > 0 {
            let n = match from.read(&mut buf[..left.min(16 * 1024)]).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            if to.write_all(&buf[..n]).await.is_err() {
                return;
            }
            left -= n;
        }
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let server = TcpStream::connect(to).await.unwrap();
            let (client_read, client_write) = client.into_split();
            let (server_read, server_write) = server.into_split();
            let (cut_from, cut_to, free_from, mut free_to): (Reader, Writer, Reader, Writer) =
                if upward {
                    (
                        Box::new(client_read),
                        Box::new(server_write),
                        Box::new(server_read),
                        Box::new(client_write),
                    )
                } else {
                    (
                        Box::new(server_read),
                        Box::new(client_write),
                        Box::new(client_read),
                        Box::new(server_write),
                    )
                };
            tokio::spawn(async move {
                let mut free_from = free_from;
                // The other way flows freely until the cut; dropping every half is the cut.
                tokio::select! {
                    _ = limited(cut_from, cut_to, limit) => {}
                    _ = tokio::io::copy(&mut free_from, &mut free_to) => std::future::pending::<()>().await,
                }
            });
        }
    });
    addr
}

/// Relays connections to `to`, passing at most `rate` bytes a second each way.
pub async fn slow_proxy(to: SocketAddr, rate: usize) -> SocketAddr {
    use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
    async fn pump(mut from: impl AsyncRead + Unpin, mut to: impl AsyncWrite + Unpin, rate: usize) {
        let mut buf = vec![0; rate / 10];
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        loop {
            tick.tick().await;
            match from.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if to.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            }
        }
        let _ = to.shutdown().await;
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let server = TcpStream::connect(to).await.unwrap();
            let (client_read, client_write) = client.into_split();
            let (server_read, server_write) = server.into_split();
            tokio::spawn(pump(client_read, server_write, rate));
            tokio::spawn(pump(server_read, client_write, rate));
        }
    });
    addr
}
