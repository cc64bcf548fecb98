//! HTTP plumbing shared by the REST adapters: one client per channel with
//! timeouts, a response size cap, and the mapping of HTTP failures to
//! [`ChannelError`] (including `Retry-After` in seconds or as an HTTP date).

use std::time::Duration;

use reqwest::Url;
use reqwest::{RequestBuilder, Response, StatusCode, header};
use serde::de::DeserializeOwned;

use super::ChannelError;

/// Responses larger than this are refused: no vendor page of comments is
/// anywhere near it, and a hostile or broken server cannot exhaust memory.
pub const MAX_RESPONSE_BYTES: usize = 8 << 20;

/// How much of an error body is quoted in an error message.
const ERROR_EXCERPT_CHARS: usize = 200;

/// A successful response.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: header::HeaderMap,
    pub body: Vec<u8>,
}

impl Answer {
    /// The `rel="next"` target of the response's `Link` header.
    pub fn next_link(&self) -> Option<&str> {
        self.headers.get(header::LINK).and_then(|v| v.to_str().ok()).and_then(next_link)
    }
}

#[derive(Clone, Debug)]
pub struct Http {
    pub client: reqwest::Client,
    timeout: Duration,
    /// The rate budgets every request waits for (shared with the vendor's other channels).
    budgets: Vec<std::sync::Arc<super::budget::Budget>>,
    /// Requests sent through this channel's view (shared by its clones).
    sent: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl Http {
    /// A channel's view of the process's one HTTP client, with its own
    /// timeout (set on each request) and rate budgets.
    pub fn new(timeout: Duration) -> Result<Http, ChannelError> {
        Ok(Http { client: shared_client()?, timeout, budgets: Vec::new(), sent: Default::default() })
    }

    pub fn with_budgets(mut self, budgets: Vec<std::sync::Arc<super::budget::Budget>>) -> Http {
        self.budgets = budgets;
        self
    }

    /// Requests sent so far (how many one poll costs, for the channel's load).
    pub fn requests_sent(&self) -> u64 {
        self.sent.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Sends a request and returns the body of a 2xx response, or the mapped error.
    pub async fn send(&self, rb: RequestBuilder) -> Result<(StatusCode, Vec<u8>), ChannelError> {
        self.send_full(rb).await.map(|a| (a.status, a.body))
    }

    /// Like [`Http::send`], keeping the response headers (pagination links).
    pub async fn send_full(&self, rb: RequestBuilder) -> Result<Answer, ChannelError> {
        let answer = self.send_any(rb).await?;
        if answer.status.is_success() { Ok(answer) } else { Err(status_error(&answer)) }
    }

    /// Sends a request and returns the response whatever its status (for
    /// platforms that explain failures in their own body codes).
    pub async fn send_any(&self, rb: RequestBuilder) -> Result<Answer, ChannelError> {
        super::budget::acquire(&self.budgets).await;
        self.sent.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let resp = rb.timeout(self.timeout).send().await.map_err(|e| self.transport(e))?;
        let status = resp.status();
        let headers = resp.headers().clone();
        for b in &self.budgets {
            b.observe(status, &headers);
        }
        let body = self.read_capped(resp).await?;
        Ok(Answer { status, headers, body })
    }

    /// One page of a `Link`-paginated API (GitHub, Freshdesk): the decoded
    /// body and the next page's URL, which must stay on `origin`.
    pub async fn linked_page<T: DeserializeOwned>(
        &self,
        rb: RequestBuilder,
        origin: &Url,
    ) -> Result<(T, Option<Url>), ChannelError> {
        let answer = self.send_full(rb).await?;
        Ok((decode(&answer.body)?, answer.next_link().map(|l| same_origin(origin, l)).transpose()?))
    }

    /// Sends a request and decodes a JSON body.
    pub async fn json<T: DeserializeOwned>(&self, rb: RequestBuilder) -> Result<T, ChannelError> {
        let (_, body) = self.send(rb).await?;
        decode(&body)
    }

    async fn read_capped(&self, mut resp: Response) -> Result<Vec<u8>, ChannelError> {
        if resp.content_length().is_some_and(|n| n > MAX_RESPONSE_BYTES as u64) {
            return Err(too_large());
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| self.transport(e))? {
            if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }

    fn transport(&self, e: reqwest::Error) -> ChannelError {
        if e.is_timeout() {
            return ChannelError::Timeout(self.timeout);
        }
        if e.is_decode() || e.is_body() {
            return ChannelError::Malformed(format!("broken response body: {}", super::error_chain(&e.without_url())));
        }
        let host = e.url().and_then(|u| u.host_str()).unwrap_or("the server").to_string();
        // The causes say why: refused, reset, no such host, a TLS failure.
        ChannelError::Unreachable { host, cause: super::error_chain(&e.without_url()) }
    }
}

/// The `rel="next"` target of a `Link` header.
pub fn next_link(link: &str) -> Option<&str> {
    link.split(',').find_map(|part| {
        let (url, params) = part.split_once(';')?;
        params
            .split(';')
            .any(|p| p.trim() == r#"rel="next""#)
            .then(|| url.trim().trim_start_matches('<').trim_end_matches('>'))
    })
}

/// A configured API root in the form paths are joined to: its path ends in
/// `/`, so `join("tickets")` appends a segment instead of replacing the last.
pub fn api_root(configured: &Url) -> Url {
    let mut root = configured.clone();
    if !root.path().ends_with('/') {
        let path = format!("{}/", root.path());
        root.set_path(&path);
    }
    root
}

/// `root` (from [`api_root`]) with `path` joined to it.
pub fn endpoint(root: &Url, path: &str) -> Result<Url, ChannelError> {
    root.join(path).map_err(|e| ChannelError::Malformed(format!("cannot build URL for {path}: {e}")))
}

/// Where a listing's next page is, page by page: `take` gives the page to
/// read (`None` after the last); a platform still saying "next" after `max`
/// pages is broken or hostile, and that is an error naming `what`.
///
/// ```text
/// let mut pages = Pages::new(first_url, MAX_PAGES, "comments");
/// while let Some(url) = pages.take()? {
///     let (items, next) = read(url).await?;
///     pages.then(next);
/// }
/// ```
#[derive(Debug)]
pub struct Pages<C> {
    next: Option<C>,
    left: usize,
    max: usize,
    /// What the listing holds, for the error; `None` for a bounded scan.
    what: Option<&'static str>,
}

impl<C> Pages<C> {
    /// A whole listing: more than `max` pages is an error.
    pub fn new(first: C, max: usize, what: &'static str) -> Pages<C> {
        Pages { next: Some(first), left: max, max, what: Some(what) }
    }

    /// A scan of at most the first `max` pages (crash recovery looking
    /// through our newest tickets): after them it simply ends.
    pub fn first(first: C, max: usize) -> Pages<C> {
        Pages { next: Some(first), left: max, max, what: None }
    }

    /// The next page to read, if there is one.
    pub fn take(&mut self) -> Result<Option<C>, ChannelError> {
        match self.next.take() {
            None => Ok(None),
            Some(_) if self.left == 0 => match self.what {
                Some(what) => Err(ChannelError::Malformed(format!("more than {} pages of {what}", self.max))),
                None => Ok(None),
            },
            Some(at) => {
                self.left -= 1;
                Ok(Some(at))
            }
        }
    }

    /// Where the page just read says the next one is.
    pub fn then(&mut self, next: Option<C>) {
        self.next = next;
    }
}

/// A link a server handed us (the next page), resolved against `origin` and
/// accepted only on its origin: a hostile server must not be able to send
/// our credentials elsewhere.
pub fn same_origin(origin: &Url, link: &str) -> Result<Url, ChannelError> {
    let url = Url::parse(link)
        .or_else(|_| origin.join(link))
        .map_err(|_| ChannelError::Malformed(format!("pagination link is not a URL: {link:?}")))?;
    if url.origin() != origin.origin() {
        return Err(ChannelError::Malformed(format!(
            "pagination link points to another server ({}); not following it",
            url.origin().ascii_serialization()
        )));
    }
    Ok(url)
}

/// The error for a response that is not a success, by its HTTP status.
pub fn status_error(a: &Answer) -> ChannelError {
    let retry_after = rate_limit_wait(&a.headers, chrono::Utc::now());
    // GitHub says "rate limited" with a 403 and no requests left.
    let exhausted = a.headers.get("x-ratelimit-remaining").and_then(|v| v.to_str().ok()) == Some("0");
    let message = error_excerpt(&a.body);
    match a.status.as_u16() {
        403 if exhausted => ChannelError::RateLimited { retry_after },
        401 | 403 => ChannelError::Auth { status: Some(a.status.as_u16()), message },
        404 => ChannelError::NotFound { message },
        429 => ChannelError::RateLimited { retry_after },
        s if s >= 500 => ChannelError::Server { status: s, message, retry_after },
        s => ChannelError::Rejected { status: s, message },
    }
}

fn too_large() -> ChannelError {
    ChannelError::Malformed(format!("response larger than {} MiB", MAX_RESPONSE_BYTES >> 20))
}

/// Decodes JSON, naming the line and column of the problem.
pub fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, ChannelError> {
    serde_json::from_slice(body).map_err(|e| ChannelError::Malformed(format!("invalid JSON: {e}")))
}

/// How long a platform asks us to wait: `Retry-After` (seconds or an HTTP
/// date); else a reset time — `X-RateLimit-Reset` (GitHub, Freshdesk: epoch
/// seconds; others: seconds from now) or Feishu's `x-ogw-ratelimit-reset`
/// (seconds from now).
pub fn rate_limit_wait(headers: &header::HeaderMap, now: chrono::DateTime<chrono::Utc>) -> Option<Duration> {
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    if let Some(d) = get(header::RETRY_AFTER.as_str()).and_then(|v| parse_retry_after(v, now)) {
        return Some(d);
    }
    reset_in(headers, &["x-ratelimit-reset", "x-ogw-ratelimit-reset"], now)
        .map(|secs| Duration::from_secs_f64(secs.min(86_400.0)))
}

/// Seconds until the reset announced by the first of `names` present: its
/// value is epoch seconds (anything after 2001 is a point in time) or
/// seconds from now; never negative, `None` when absent or not a number.
pub fn reset_in(headers: &header::HeaderMap, names: &[&str], now: chrono::DateTime<chrono::Utc>) -> Option<f64> {
    let value = names.iter().find_map(|n| headers.get(*n))?.to_str().ok()?.trim();
    let reset = value.parse::<f64>().ok().filter(|r| r.is_finite() && *r >= 0.0)?;
    let secs = if reset > 1e9 { reset - now.timestamp() as f64 } else { reset };
    Some(secs.max(0.0))
}

pub fn parse_retry_after(v: &str, now: chrono::DateTime<chrono::Utc>) -> Option<Duration> {
    if let Ok(secs) = v.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs.min(86_400.0)));
    }
    let at = chrono::DateTime::parse_from_rfc2822(v).ok()?;
    let delta = at.with_timezone(&chrono::Utc) - now;
    Some(delta.to_std().unwrap_or(Duration::ZERO).min(Duration::from_secs(86_400)))
}

/// A short, printable excerpt of an error body: the JSON error fields that
/// helpdesks use, or the start of the text.
pub fn error_excerpt(body: &[u8]) -> String {
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) {
        let mut parts = Vec::new();
        for key in ["error", "description", "message", "title", "errors", "details"] {
            match v.get(key) {
                Some(serde_json::Value::String(s)) => parts.push(s.clone()),
                Some(obj @ serde_json::Value::Object(o)) => {
                    let picked: Vec<String> =
                        ["title", "message"].iter().filter_map(|k| o.get(*k)?.as_str().map(String::from)).collect();
                    if picked.is_empty() {
                        parts.push(obj.to_string());
                    } else {
                        parts.extend(picked);
                    }
                }
                Some(other @ serde_json::Value::Array(_)) => parts.push(other.to_string()),
                _ => {}
            }
        }
        if !parts.is_empty() {
            return clip(&parts.join(": "));
        }
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() { "(empty body)".to_string() } else { clip(text) }
}

fn clip(s: &str) -> String {
    // Masked before clipping: a vendor that echoes our request must not leak half a token.
    let s = crate::redact::redact(s);
    let cleaned: String = s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    if cleaned.chars().count() > ERROR_EXCERPT_CHARS {
        format!("{}…", cleaned.chars().take(ERROR_EXCERPT_CHARS).collect::<String>())
    } else {
        cleaned
    }
}

/// rustls needs one process-wide crypto provider; we build with ring only.
/// The process's one HTTP client: one connection pool and one TLS root
/// store (parsed once, not once per channel), shared by every channel and
/// the notifier. Timeouts are per request.
pub fn shared_client() -> Result<reqwest::Client, ChannelError> {
    static CLIENT: std::sync::OnceLock<Result<reqwest::Client, String>> = std::sync::OnceLock::new();
    CLIENT
        .get_or_init(|| {
            install_crypto_provider();
            reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(10))
                .pool_idle_timeout(Duration::from_secs(60))
                .pool_max_idle_per_host(4)
                .user_agent(concat!("supportprobe/", env!("CARGO_PKG_VERSION")))
                .build()
                .map_err(|e| format!("cannot build HTTP client: {e}"))
        })
        .clone()
        .map_err(ChannelError::Malformed)
}

pub fn install_crypto_provider() {
    // Fails only if one is installed already, which is what we want.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_stop_at_the_last_page_and_refuse_endless_ones() {
        let mut seen = Vec::new();
        let mut pages = Pages::new(1u32, 3, "items");
        while let Some(n) = pages.take().unwrap() {
            seen.push(n);
            pages.then((n < 3).then_some(n + 1));
        }
        assert_eq!(seen, [1, 2, 3], "exactly `max` pages are allowed");
        let mut pages = Pages::new(1u32, 5, "comments");
        let endless = loop {
            match pages.take() {
                Ok(Some(n)) => pages.then(Some(n + 1)),
                Ok(None) => panic!("an endless listing ended"),
                Err(e) => break e,
            }
        };
        assert_eq!(endless.to_string(), "malformed response: more than 5 pages of comments");
        let mut scan = Pages::first(1u32, 2);
        let mut seen = Vec::new();
        while let Some(n) = scan.take().unwrap() {
            seen.push(n);
            scan.then(Some(n + 1));
        }
        assert_eq!(seen, [1, 2], "a bounded scan ends after its pages, without an error");
    }

    #[test]
    fn api_roots_end_in_a_slash_so_paths_are_appended() {
        let root = api_root(&Url::parse("https://example.zendesk.com/sub").unwrap());
        assert_eq!(
            endpoint(&root, "api/v2/requests.json").unwrap().as_str(),
            "https://example.zendesk.com/sub/api/v2/requests.json"
        );
        let root = api_root(&Url::parse("https://api.github.com").unwrap());
        assert_eq!(endpoint(&root, "repos/o/r").unwrap().as_str(), "https://api.github.com/repos/o/r");
    }

    #[test]
    fn pagination_links_stay_on_our_server() {
        let api = Url::parse("https://acme.freshdesk.com/api/v2/").unwrap();
        let next = same_origin(&api, "https://acme.freshdesk.com/api/v2/tickets?page=2").unwrap();
        assert_eq!(next.as_str(), "https://acme.freshdesk.com/api/v2/tickets?page=2");
        assert_eq!(
            same_origin(&api, "tickets?page=3").unwrap().as_str(),
            "https://acme.freshdesk.com/api/v2/tickets?page=3"
        );
        for hostile in [
            "https://evil.example/api/v2/tickets",
            "http://acme.freshdesk.com/api/v2/",
            "https://acme.freshdesk.com:444/",
        ] {
            let e = same_origin(&api, hostile).unwrap_err();
            assert!(e.to_string().contains("another server"), "{hostile}: {e}");
        }
    }

    #[test]
    fn retry_after_forms() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-11-23T10:00:00Z").unwrap().to_utc();
        assert_eq!(parse_retry_after("93", now), Some(Duration::from_secs(93)));
        assert_eq!(parse_retry_after("Mon, 23 Nov 2026 10:00:30 GMT", now), Some(Duration::from_secs(30)));
        assert_eq!(parse_retry_after("Mon, 23 Nov 2026 09:00:00 GMT", now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-5", now), None);
        assert_eq!(parse_retry_after("999999999", now), Some(Duration::from_secs(86_400)));
    }

    #[test]
    fn link_headers() {
        let link = r#"<https://api.github.com/repositories/1/issues/2/comments?per_page=100&page=2>; rel="next", <https://api.github.com/repositories/1/issues/2/comments?per_page=100&page=5>; rel="last""#;
        assert_eq!(
            next_link(link),
            Some("https://api.github.com/repositories/1/issues/2/comments?per_page=100&page=2")
        );
        assert_eq!(next_link(r#"<https://x/?page=1>; rel="prev", <https://x/?page=1>; rel="first""#), None);
        assert_eq!(next_link("garbage"), None);
    }

    #[test]
    fn reset_headers() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-11-23T10:00:00Z").unwrap().to_utc();
        let h = |pairs: &[(&'static str, &str)]| {
            let mut m = header::HeaderMap::new();
            for (k, v) in pairs {
                m.insert(*k, v.parse().unwrap());
            }
            m
        };
        let epoch = (now.timestamp() + 42).to_string();
        assert_eq!(rate_limit_wait(&h(&[("x-ratelimit-reset", &epoch)]), now), Some(Duration::from_secs(42)));
        assert_eq!(rate_limit_wait(&h(&[("x-ogw-ratelimit-reset", "7")]), now), Some(Duration::from_secs(7)));
        assert_eq!(
            rate_limit_wait(&h(&[("retry-after", "3"), ("x-ratelimit-reset", &epoch)]), now),
            Some(Duration::from_secs(3)),
            "Retry-After wins"
        );
        let past = (now.timestamp() - 5).to_string();
        assert_eq!(rate_limit_wait(&h(&[("x-ratelimit-reset", &past)]), now), Some(Duration::ZERO));
        assert_eq!(rate_limit_wait(&h(&[("x-ratelimit-reset", "soon")]), now), None);
        assert_eq!(rate_limit_wait(&h(&[]), now), None);
    }

    #[test]
    fn error_excerpts() {
        assert_eq!(error_excerpt(br#"{"error":"Couldn't authenticate you"}"#), "Couldn't authenticate you");
        assert_eq!(
            error_excerpt(br#"{"error":"RecordNotFound","description":"Not found"}"#),
            "RecordNotFound: Not found"
        );
        assert_eq!(error_excerpt(br#"{"error":{"title":"Forbidden","message":"no access"}}"#), "Forbidden: no access");
        assert_eq!(error_excerpt(b"<html>\n502 Bad Gateway</html>"), "<html> 502 Bad Gateway</html>");
        assert_eq!(
            error_excerpt(br#"{"error":"RecordInvalid","details":{"base":[{"description":"Priority: is invalid"}]}}"#),
            r#"RecordInvalid: {"base":[{"description":"Priority: is invalid"}]}"#
        );
        assert_eq!(error_excerpt(b""), "(empty body)");
        assert_eq!(error_excerpt(&[b'x'; 500]).chars().count(), ERROR_EXCERPT_CHARS + 1);
    }
}
