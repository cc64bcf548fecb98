//! How a simulated platform delivers its webhook: one HTTP/1.1 `POST` over
//! plain TCP to the daemon on loopback (a real platform would use TLS to a
//! public address; the daemon's side is the same).

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Posts `body` as JSON to `url` (`http://HOST:PORT/PATH`) with `headers`;
/// the status code the receiver answered.
pub async fn post(url: &str, headers: &[(&str, String)], body: &[u8], timeout: Duration) -> Result<u16, String> {
    let rest = url.strip_prefix("http://").ok_or_else(|| format!("`{url}` is not an http:// URL"))?;
    let (authority, path) = rest.split_once('/').map_or((rest, "/".to_string()), |(a, p)| (a, format!("/{p}")));
    let exchange = async {
        let mut stream =
            TcpStream::connect(authority).await.map_err(|e| format!("cannot connect to {authority}: {e}"))?;
        let mut request = format!(
            "POST {path} HTTP/1.1\r\nHost: {authority}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
            body.len()
        );
        for (k, v) in headers {
            request.push_str(&format!("{k}: {v}\r\n"));
        }
        request.push_str("\r\n");
        stream.write_all(request.as_bytes()).await.map_err(|e| e.to_string())?;
        stream.write_all(body).await.map_err(|e| e.to_string())?;
        let mut head = [0u8; 64];
        let n = stream.read(&mut head).await.map_err(|e| e.to_string())?;
        let line = String::from_utf8_lossy(&head[..n]);
        line.split(' ').nth(1).and_then(|c| c.parse().ok()).ok_or_else(|| format!("not an HTTP answer: {line:?}"))
    };
    tokio::time::timeout(timeout, exchange).await.map_err(|_| format!("no answer within {}s", timeout.as_secs()))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn posts_the_body_with_its_headers() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut got = Vec::new();
            let mut buf = [0u8; 1024];
            while !String::from_utf8_lossy(&got).ends_with("{\"a\":1}") {
                let n = s.read(&mut buf).await.unwrap();
                got.extend_from_slice(&buf[..n]);
            }
            s.write_all(b"HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\n\r\n").await.unwrap();
            String::from_utf8(got).unwrap()
        });
        let url = format!("http://{addr}/webhooks/acme/tickets");
        let code = post(&url, &[("x-hub-signature", "sha1=ab".into())], b"{\"a\":1}", Duration::from_secs(5)).await;
        assert_eq!(code, Ok(202));
        let got = server.await.unwrap();
        assert!(got.starts_with("POST /webhooks/acme/tickets HTTP/1.1\r\n"), "{got}");
        assert!(got.contains("x-hub-signature: sha1=ab\r\n") && got.contains("Content-Length: 7\r\n"), "{got}");
        assert!(post("https://x/", &[], b"", Duration::from_secs(1)).await.unwrap_err().contains("http://"));
    }
}
