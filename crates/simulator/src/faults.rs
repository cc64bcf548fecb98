//! Fault injection, per simulated vendor, so that bad luck is reproducible:
//! from config (`[simulator.vendors.NAME.faults]`: a share of requests that
//! fail, which ways, outage windows since the simulator started) and at run
//! time (`POST /_sim/faults/NAME`, for tests that need one fault at one
//! moment: an outage now, the next `POST` reset after it was applied, a
//! ticket lost or its id reused by a stranger, the vendor's clock skewed).
//!
//! The faults are applied in front of every platform's routes, so each
//! platform's own code stays as it is:
//!
//! | fault | what the client sees |
//! |---|---|
//! | `server_error` | 503 with a plain body and `Retry-After: 1` (a maintenance page) |
//! | `rate_limited` / `rate_limited_no_hint` | 429 with / without `Retry-After` |
//! | `reset_before` | the connection dropped before the request was applied |
//! | `reset_after` | the request applied, then the connection dropped (outcome unknown) |
//! | `stall` | the answer after `stall` (the client's timeout may fire first) |
//! | `truncated` | half the real answer |
//! | `html` | 200 with a proxy's HTML page |
//! | `garbage` | 200 with bytes that are not JSON |
//! | `huge` | 200 with 20 MB |
//! | `malformed_success` | the request applied, then 200 with `{}` |
//! | `reflect` | 400 whose error body echoes the request's headers, `Authorization` included |

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::{Rng, Simulator};
use supportprobe_core::duration::Dur;
use supportprobe_core::value::{DurRange, Share};

/// One way a request can fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fault {
    ServerError,
    RateLimited,
    RateLimitedNoHint,
    ResetBefore,
    ResetAfter,
    Stall,
    Truncated,
    Html,
    Garbage,
    Huge,
    MalformedSuccess,
    /// 400 whose body echoes the request's headers, credentials included.
    Reflect,
}

const ALL: [Fault; 12] = [
    Fault::ServerError,
    Fault::RateLimited,
    Fault::RateLimitedNoHint,
    Fault::ResetBefore,
    Fault::ResetAfter,
    Fault::Stall,
    Fault::Truncated,
    Fault::Html,
    Fault::Garbage,
    Fault::Huge,
    Fault::MalformedSuccess,
    Fault::Reflect,
];

/// The faults of one simulated vendor, from config.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultPlan {
    /// Share of API requests that fail.
    #[serde(default)]
    pub rate: Share,
    /// Which ways they fail (all of them when empty).
    #[serde(default)]
    pub kinds: Vec<Fault>,
    /// How long a stalled answer takes.
    #[serde(default)]
    pub stall: Option<Dur>,
    /// Windows, since the simulator started, in which every request fails (`"40s..140s"`).
    #[serde(default)]
    pub outages: Vec<DurRange>,
}

/// A fault queued for the next matching request.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Queued {
    pub fault: Fault,
    /// Only requests of this method (`POST`, `PUT`); any when absent.
    #[serde(default)]
    pub method: Option<String>,
}

/// A vendor's faults as they stand.
#[derive(Debug)]
pub(crate) struct FaultState {
    plan: FaultPlan,
    rng: Rng,
    started: Instant,
    down_until: Option<Instant>,
    /// How requests fail during an outage started by the control endpoint.
    outage_fault: Fault,
    queued: VecDeque<Queued>,
    /// How far the vendor's clock runs ahead of the real one.
    pub skew: chrono::Duration,
    /// Requests answered with a fault, for tests and the soak's report.
    pub injected: u64,
    /// Requests refused by the vendor's own rate limit (not injected: the client was too fast).
    pub rate_limited: u64,
    /// Every API request the vendor was sent (for benchmarks: requests per minute against its limit).
    pub requests: u64,
}

impl FaultState {
    pub fn new(plan: FaultPlan, seed: u64, vendor: &str) -> FaultState {
        FaultState {
            plan,
            rng: Rng::new(seed, &format!("faults/{vendor}"), 0),
            started: Instant::now(),
            down_until: None,
            outage_fault: Fault::ResetBefore,
            queued: VecDeque::new(),
            skew: chrono::Duration::zero(),
            injected: 0,
            rate_limited: 0,
            requests: 0,
        }
    }

    /// Whether now falls in one of the configured outage windows.
    fn in_outage_window(&self, now: Instant) -> bool {
        let since = now.duration_since(self.started);
        self.plan.outages.iter().any(|w| since >= w.min.std() && since < w.max.std())
    }

    /// The fault for this request, if any.
    fn draw(&mut self, method: &Method) -> Option<Fault> {
        let fault = if self.down_until.is_some_and(|u| Instant::now() < u) {
            Some(self.outage_fault)
        } else if self.in_outage_window(Instant::now()) {
            Some(Fault::ResetBefore)
        } else if let Some(i) =
            self.queued.iter().position(|q| q.method.as_deref().is_none_or(|m| m.eq_ignore_ascii_case(method.as_str())))
        {
            self.queued.remove(i).map(|q| q.fault)
        } else if self.plan.rate.0 > 0.0 && self.rng.unit() < self.plan.rate.0 {
            let kinds: &[Fault] = if self.plan.kinds.is_empty() { &ALL } else { &self.plan.kinds };
            kinds.get((self.rng.next() % kinds.len() as u64) as usize).copied()
        } else {
            None
        };
        self.injected += u64::from(fault.is_some());
        fault
    }

    fn stall(&self) -> Duration {
        self.plan.stall.map_or(Duration::from_secs(20), |d| d.std())
    }
}

/// A response whose body fails after the status line: the client's read of
/// it ends with a broken connection.
fn reset() -> Response {
    let stream = futures_util::stream::once(async {
        Err::<axum::body::Bytes, std::io::Error>(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "injected reset",
        ))
    });
    Response::builder().status(StatusCode::OK).body(Body::from_stream(stream)).unwrap_or_default()
}

/// The middleware in front of every platform route (`/{vendor}/…`).
pub(crate) async fn inject(State(sim): State<Simulator>, req: Request, next: Next) -> Response {
    let vendor = req.uri().path().trim_start_matches('/').split('/').next().unwrap_or("").to_string();
    if vendor.is_empty() || vendor == "_sim" {
        return next.run(req).await;
    }
    let method = req.method().clone();
    let (fault, stall) = {
        let mut vendors = sim.lock();
        match vendors.get_mut(&vendor) {
            Some(v) => (v.faults.draw(&method), v.faults.stall()),
            None => (None, Duration::ZERO),
        }
    };
    let Some(fault) = fault else { return next.run(req).await };
    tracing::debug!(vendor, ?fault, %method, path = %req.uri().path(), "simulator: injected fault");
    match fault {
        Fault::ServerError => (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::RETRY_AFTER, "1")],
            "upstream connect error or disconnect/reset before headers",
        )
            .into_response(),
        Fault::RateLimited => {
            (StatusCode::TOO_MANY_REQUESTS, [(header::RETRY_AFTER, "2")], "rate limited").into_response()
        }
        Fault::RateLimitedNoHint => (StatusCode::TOO_MANY_REQUESTS, "rate limited").into_response(),
        Fault::ResetBefore => reset(),
        Fault::ResetAfter => {
            let _ = next.run(req).await;
            reset()
        }
        Fault::Stall => {
            tokio::time::sleep(stall).await;
            next.run(req).await
        }
        Fault::Truncated => {
            let r = next.run(req).await;
            let (parts, body) = r.into_parts();
            let bytes = axum::body::to_bytes(body, 32 << 20).await.unwrap_or_default();
            let half = bytes.slice(..bytes.len() / 2);
            Response::from_parts(parts, Body::from(half))
        }
        Fault::Html => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/html")],
            "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>",
        )
            .into_response(),
        Fault::Garbage => {
            (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], vec![0xffu8, 0xfe, 0x00, 0x7b, 0x22])
                .into_response()
        }
        Fault::Huge => {
            (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], vec![b' '; 20 << 20]).into_response()
        }
        Fault::Reflect => {
            let headers: serde_json::Map<String, serde_json::Value> = req
                .headers()
                .iter()
                .map(|(k, v)| (k.as_str().to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned().into()))
                .collect();
            let body = serde_json::json!({
                "error": "InvalidRequest",
                "description": format!("debug: request was {} {} with headers {}", req.method(), req.uri(), serde_json::Value::Object(headers)),
            });
            (StatusCode::BAD_REQUEST, axum::Json(body)).into_response()
        }
        Fault::MalformedSuccess => {
            let _ = next.run(req).await;
            (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], "{}").into_response()
        }
    }
}

/// `POST /_sim/faults/{vendor}`: what a test asks of one vendor now.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Control {
    /// Every request fails for this long, from now.
    #[serde(default)]
    outage_secs: Option<f64>,
    /// How requests fail during it (`reset_before` unless said).
    #[serde(default)]
    outage_fault: Option<Fault>,
    /// Faults for the next matching requests, in order.
    #[serde(default)]
    next: Vec<Queued>,
    /// Replace the random share and kinds.
    #[serde(default)]
    rate: Option<Share>,
    #[serde(default)]
    kinds: Option<Vec<Fault>>,
    /// The vendor's clock runs this far ahead (negative: behind).
    #[serde(default)]
    clock_skew_secs: Option<i64>,
    /// The ticket (its platform id) disappears: 404 from now on.
    #[serde(default)]
    lose_ticket: Option<String>,
    /// The ticket's id now belongs to someone else's ticket (a vendor reset reused it).
    #[serde(default)]
    reuse_ticket: Option<String>,
    /// Forget queued faults, the outage, the random share and the skew.
    #[serde(default)]
    clear: bool,
}

pub(crate) async fn control(
    State(sim): State<Simulator>,
    Path(vendor): Path<String>,
    axum::Json(c): axum::Json<Control>,
) -> Response {
    let mut vendors = sim.lock();
    let Some(v) = vendors.get_mut(&vendor) else { return (StatusCode::NOT_FOUND, "no such vendor").into_response() };
    let f = &mut v.faults;
    if c.clear {
        f.queued.clear();
        f.down_until = None;
        f.plan.rate = Share(0.0);
        f.plan.outages.clear();
        f.skew = chrono::Duration::zero();
    }
    if let Some(k) = c.outage_fault {
        f.outage_fault = k;
    }
    if let Some(s) = c.outage_secs {
        f.down_until = Some(Instant::now() + Duration::from_secs_f64(s.max(0.0)));
    }
    f.queued.extend(c.next);
    if let Some(r) = c.rate {
        f.plan.rate = r;
    }
    if let Some(k) = c.kinds {
        f.plan.kinds = k;
    }
    if let Some(s) = c.clock_skew_secs {
        f.skew = chrono::Duration::seconds(s);
    }
    if let Some(id) = c.lose_ticket {
        v.tickets.retain(|t| t.platform_id() != id);
    }
    if let Some(id) = c.reuse_ticket
        && let Some(t) = v.tickets.iter_mut().find(|t| t.platform_id() == id)
    {
        t.reference = None;
        t.subject = "Billing question about our invoice".into();
        t.description = "Hello, a question about last month's invoice.".into();
        if let Some(first) = t.comments.first_mut() {
            first.body = t.description.clone();
        }
        t.comments.truncate(1);
    }
    (StatusCode::OK, "ok").into_response()
}

/// `GET /_sim/faults/{vendor}`: how many requests got a fault, and how many
/// the vendor's own rate limit refused.
pub(crate) async fn injected(State(sim): State<Simulator>, Path(vendor): Path<String>) -> Response {
    match sim.lock().get(&vendor) {
        Some(v) => axum::Json(serde_json::json!({
            "injected": v.faults.injected, "rate_limited": v.faults.rate_limited, "requests": v.faults.requests,
        }))
        .into_response(),
        None => (StatusCode::NOT_FOUND, "no such vendor").into_response(),
    }
}
