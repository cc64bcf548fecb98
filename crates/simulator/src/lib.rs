//! Simulated vendors: support teams that speak the real wire formats on
//! loopback and know the ground truth.
//!
//! Each simulated vendor has a [`Profile`]: how fast its auto-acknowledgement
//! comes, how many bot turns precede a person, how long its people take (on
//! its own business hours, with on-call priorities), how long to a fix, how
//! often a ticket is never answered. When a ticket is created the vendor
//! *plans* its replies with a seeded random generator; a planned reply
//! becomes visible once its time has come, stamped with that time, exactly
//! as a real helpdesk stamps a comment when it is posted. `GET /_sim/truth`
//! reports, per ticket, when it was opened, first answered by a person and
//! resolved — what the daemon must measure to the second.
//!
//! The same code serves the demo (`run` starts it in-process) and the
//! integration tests; `supportprobe simulate` runs it as its own process so
//! the daemon can be killed while the vendors keep their state.

pub mod faults;
mod feishu;
mod freshdesk;
mod github;
mod intercom;
mod jira_sm;
mod post;
pub mod settings;
pub mod signing;
mod slack;
mod zendesk;

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::routing::get;
use chrono::{Duration, SubsecRound, Utc};
use serde::Serialize;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use supportprobe_core::calendar::Calendar;
use supportprobe_core::duration::Dur;
use supportprobe_core::lifecycle::Ts;
use supportprobe_core::model::Priority;
use supportprobe_core::value::DurRange;

pub use settings::Settings;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    En,
    Zh,
}

/// How one simulated vendor behaves.
#[derive(Clone, Debug)]
pub struct Profile {
    pub vendor: String,
    /// Credentials it accepts (the token or password part); any when `None`.
    pub token: Option<String>,
    pub language: Lang,
    pub auto_ack: Option<Dur>,
    pub bot_turns: u32,
    pub bot_delay: Dur,
    pub human_delay: DurRange,
    pub resolution_delay: Option<DurRange>,
    pub never_answer: f64,
    /// When its people work.
    pub hours: Arc<Calendar>,
    /// Priorities its people answer outside `hours` too.
    pub on_call: Vec<Priority>,
    pub agents: Vec<String>,
    pub handoff_share: f64,
    /// The ticket's group ids: the first from the start, the second from a handoff on.
    pub groups: Vec<u64>,
    pub rate_limit_per_minute: Option<u32>,
    pub page_size: u32,
    pub seed: u64,
    /// Bad luck to inject, reproducibly.
    pub faults: faults::FaultPlan,
    /// Where to send the platform's signed webhook when someone at the vendor writes.
    pub webhook: Option<settings::RawSimWebhook>,
}

/// A small deterministic generator (splitmix64), so a vendor's behaviour is
/// reproducible from its seed and the ticket id.
#[derive(Clone, Debug)]
struct Rng(u64);

impl Rng {
    fn new(seed: u64, salt: &str, id: u64) -> Rng {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in salt.bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        Rng(seed ^ h ^ id.wrapping_mul(0x9e37_79b9_7f4a_7c15))
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A whole number of seconds uniform in the range.
    fn delay(&mut self, r: &DurRange) -> Duration {
        let (lo, hi) = (r.min.secs(), r.max.secs());
        let span = u64::try_from(hi - lo).unwrap_or(0);
        let pick = if span == 0 { 0 } else { self.next() % (span + 1) };
        Duration::seconds(lo + i64::try_from(pick).unwrap_or(0))
    }
}

/// Who wrote a simulated comment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Author {
    Requester,
    /// The support mailbox posting trigger-generated acknowledgements.
    System,
    Bot,
    Agent(usize),
}

#[derive(Clone, Debug)]
pub(crate) struct Comment {
    pub id: u64,
    pub at: Ts,
    pub author: Author,
    pub body: String,
    /// Marks the agent comment that solves the ticket.
    pub solves: bool,
}

#[derive(Clone, Debug)]
pub(crate) struct SimTicket {
    pub id: u64,
    /// The wire format it was opened through (`zendesk`, `github`).
    pub channel: &'static str,
    pub reference: Option<String>,
    pub subject: String,
    pub description: String,
    pub priority: Option<Priority>,
    pub created_at: Ts,
    /// Past and planned comments; a comment exists once `at <= now`.
    pub comments: Vec<Comment>,
    /// When the requester marked it solved.
    pub requester_solved_at: Option<Ts>,
    rng: Rng,
    agent: usize,
    /// The groups it was with, from when.
    groups: Vec<(Ts, u64)>,
}

impl SimTicket {
    /// The group it is with at `now`.
    pub(crate) fn group(&self, now: Ts) -> Option<u64> {
        self.groups.iter().filter(|(at, _)| *at <= now).max_by_key(|(at, _)| *at).map(|(_, g)| *g)
    }
}

impl SimTicket {
    pub fn visible(&self, now: Ts) -> impl Iterator<Item = &Comment> {
        self.comments.iter().filter(move |c| c.at <= now)
    }

    /// When a simulated agent solved it, if that has happened.
    pub fn vendor_solved_at(&self, now: Ts) -> Option<Ts> {
        self.visible(now).find(|c| c.solves).map(|c| c.at)
    }

    #[cfg(test)]
    pub fn first_human_at(&self, now: Ts) -> Option<Ts> {
        self.visible(now).filter(|c| matches!(c.author, Author::Agent(_))).map(|c| c.at).min()
    }

    pub fn status(&self, now: Ts) -> &'static str {
        if self.requester_solved_at.is_some_and(|t| t <= now) || self.vendor_solved_at(now).is_some() {
            return "solved";
        }
        if self.visible(now).all(|c| c.author == Author::Requester) {
            return "new";
        }
        // Waiting on the requester after a person answered; otherwise on the vendor.
        match self.visible(now).last().map(|c| c.author) {
            Some(Author::Agent(_)) => "pending",
            _ => "open",
        }
    }

    /// The instant a platform shows for a message: Slack's `ts` has a
    /// fraction (here milliseconds, unique per message; the store keeps
    /// milliseconds), the others whole seconds.
    pub fn stamp(&self, at: Ts, comment_id: u64) -> Ts {
        if self.channel == "slack" {
            at + Duration::milliseconds(i64::try_from(comment_id % 1000).unwrap_or(0))
        } else {
            at
        }
    }

    /// An instant as the ground truth reports it (with milliseconds where the platform has a fraction).
    pub fn format(&self, t: Ts) -> String {
        if self.channel == "slack" { t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true) } else { rfc3339(t) }
    }

    /// The ticket's id as the platform shows it (Jira: the issue key; Slack: the thread's ts).
    pub fn platform_id(&self) -> String {
        match self.channel {
            "jira_sm" => format!("SD-{}", self.id),
            "feishu" => format!("om_t{}c{}", self.id, self.comments.first().map_or(0, |c| c.id)),
            "slack" => {
                let first = self.comments.first().map_or(0, |c| c.id);
                slack_ts(self.stamp(self.created_at, first))
            }
            _ => self.id.to_string(),
        }
    }

    pub fn updated_at(&self, now: Ts) -> Ts {
        let last = self.visible(now).map(|c| c.at).max().unwrap_or(self.created_at);
        self.requester_solved_at.filter(|t| *t <= now).map_or(last, |t| t.max(last))
    }
}

pub(crate) struct VendorState {
    pub profile: Profile,
    pub tickets: Vec<SimTicket>,
    next_comment: u64,
    /// Recent request times, for the rate limit.
    requests: VecDeque<std::time::Instant>,
    faults: faults::FaultState,
}

/// One row of `GET /_sim/truth`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Truth {
    pub reference: Option<String>,
    pub vendor: String,
    pub channel: String,
    pub ticket_id: String,
    pub opened_at: String,
    pub first_human_reply_at: Option<String>,
    pub resolved_at: Option<String>,
    /// Every reply by a person, in order (for next-reply checks).
    pub human_replies_at: Vec<String>,
    /// Every message from the requester after the opening one.
    pub requester_messages_at: Vec<String>,
    /// Whether the requester (our courtesy close) marked it solved.
    pub closed_by_requester: bool,
}

pub fn rfc3339(t: Ts) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// How many webhook notifications the stand-in on-call receiver keeps.
const KEEP_NOTIFICATIONS: usize = 500;

/// Shared state of all simulated vendors.
#[derive(Clone)]
pub struct Simulator {
    vendors: Arc<Mutex<HashMap<String, VendorState>>>,
    /// A stand-in on-call receiver for the demo: webhook notifications posted to `/_sim/webhook`.
    notifications: Arc<Mutex<VecDeque<serde_json::Value>>>,
}

impl Simulator {
    pub fn new(settings: &Settings) -> Simulator {
        let vendors = settings
            .vendors
            .iter()
            .map(|(id, p)| {
                let faults = faults::FaultState::new(p.faults.clone(), p.seed, id);
                (
                    id.clone(),
                    VendorState {
                        profile: p.clone(),
                        tickets: Vec::new(),
                        next_comment: 1,
                        requests: VecDeque::new(),
                        faults,
                    },
                )
            })
            .collect();
        Simulator { vendors: Arc::new(Mutex::new(vendors)), notifications: Arc::default() }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, HashMap<String, VendorState>> {
        self.vendors.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Ground truth for every ticket of every vendor, as of now.
    pub fn truth(&self, now: Ts) -> Vec<Truth> {
        let vendors = self.lock();
        let mut out: Vec<Truth> = vendors
            .values()
            .flat_map(|v| {
                let now = now + v.faults.skew;
                v.tickets.iter().map(move |t| {
                    let at = |c: &Comment| t.stamp(c.at, c.id);
                    let human: Vec<&Comment> =
                        t.visible(now).filter(|c| matches!(c.author, Author::Agent(_))).collect();
                    Truth {
                        reference: t.reference.clone(),
                        vendor: v.profile.vendor.clone(),
                        channel: t.channel.into(),
                        ticket_id: t.platform_id(),
                        opened_at: t.format(t.comments.first().map_or(t.created_at, at)),
                        first_human_reply_at: human.iter().min_by_key(|c| c.at).map(|c| t.format(at(c))),
                        resolved_at: t.visible(now).find(|c| c.solves).map(|c| t.format(at(c))),
                        human_replies_at: human.iter().map(|c| t.format(at(c))).collect(),
                        requester_messages_at: t
                            .visible(now)
                            .filter(|c| c.author == Author::Requester)
                            .skip(1)
                            .map(|c| t.format(at(c)))
                            .collect(),
                        closed_by_requester: t.requester_solved_at.is_some(),
                    }
                })
            })
            .collect();
        out.sort_by(|a, b| (&a.vendor, &a.opened_at, &a.ticket_id).cmp(&(&b.vendor, &b.opened_at, &b.ticket_id)));
        out
    }

    /// The router: every vendor's API under `/{vendor}/`, plus `/_sim/*`.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/_sim/truth", get(truth_handler))
            .route("/_sim/health", get(|| async { "ok" }))
            .route("/_sim/webhook", axum::routing::post(webhook_handler))
            .route("/_sim/notifications", get(notifications_handler))
            .route("/_sim/faults/{vendor}", axum::routing::post(faults::control).get(faults::injected))
            .merge(zendesk::routes())
            .merge(github::routes())
            .merge(freshdesk::routes())
            .merge(jira_sm::routes())
            .merge(slack::routes())
            .merge(intercom::routes())
            .merge(feishu::routes())
            .layer(axum::middleware::from_fn_with_state(self.clone(), faults::inject))
            .with_state(self.clone())
    }
}

async fn truth_handler(axum::extract::State(sim): axum::extract::State<Simulator>) -> axum::Json<Vec<Truth>> {
    axum::Json(sim.truth(now()))
}

async fn webhook_handler(
    axum::extract::State(sim): axum::extract::State<Simulator>,
    axum::Json(body): axum::Json<serde_json::Value>,
) -> axum::http::StatusCode {
    let mut q = sim.notifications.lock().unwrap_or_else(|e| e.into_inner());
    if q.len() >= KEEP_NOTIFICATIONS {
        q.pop_front();
    }
    q.push_back(body);
    axum::http::StatusCode::NO_CONTENT
}

async fn notifications_handler(
    axum::extract::State(sim): axum::extract::State<Simulator>,
) -> axum::Json<Vec<serde_json::Value>> {
    axum::Json(sim.notifications.lock().unwrap_or_else(|e| e.into_inner()).iter().cloned().collect())
}

/// Slack's `ts` for an instant: seconds and microseconds.
pub(crate) fn slack_ts(t: Ts) -> String {
    format!("{}.{:06}", t.timestamp(), t.timestamp_subsec_micros())
}

/// Simulated time is real time at whole seconds, as Zendesk reports it.
pub(crate) fn now() -> Ts {
    Utc::now().trunc_subsecs(0)
}

impl VendorState {
    /// Counts a request against the vendor's rate limit; `Err(retry_after_secs)` when over it.
    pub(crate) fn admit(&mut self) -> Result<(), u64> {
        self.faults.requests += 1;
        let Some(limit) = self.profile.rate_limit_per_minute else { return Ok(()) };
        let now = std::time::Instant::now();
        let window = std::time::Duration::from_secs(60);
        while self.requests.front().is_some_and(|t| now.duration_since(*t) >= window) {
            self.requests.pop_front();
        }
        if self.requests.len() >= limit as usize {
            self.faults.rate_limited += 1;
            let oldest = self.requests.front().copied().unwrap_or(now);
            let wait = window.saturating_sub(now.duration_since(oldest));
            return Err(wait.as_secs().max(1));
        }
        self.requests.push_back(now);
        Ok(())
    }

    fn comment_id(&mut self) -> u64 {
        self.next_comment += 1;
        self.next_comment
    }

    /// When a person would answer something that arrived at `from`, after `delay` of work.
    fn work_time(&self, from: Ts, delay: Duration, priority: Option<Priority>) -> Ts {
        let on_call = priority.is_some_and(|p| self.profile.on_call.contains(&p));
        if on_call || self.profile.hours.is_always() {
            return from + delay;
        }
        self.profile.hours.add_business(from, delay).unwrap_or(from + delay)
    }

    /// Creates a ticket and plans the vendor's side of it.
    pub(crate) fn create(
        &mut self,
        channel: &'static str,
        subject: String,
        description: String,
        priority: Option<Priority>,
        now: Ts,
    ) -> u64 {
        // A channel without a priority field (chat, Intercom, Feishu): the vendor reads the message.
        let priority = priority.or_else(|| triage(&subject, &description));
        let id = 10_000 + self.tickets.len() as u64 + 1;
        let reference = supportprobe_core::reference::find(&subject)
            .or_else(|| supportprobe_core::reference::find(&description))
            .map(String::from);
        let mut rng = Rng::new(self.profile.seed, &self.profile.vendor, id);
        let agent = (rng.next() % self.profile.agents.len().max(1) as u64) as usize;
        let mut t = SimTicket {
            id,
            channel,
            reference,
            subject,
            description: description.clone(),
            priority,
            created_at: now,
            comments: Vec::new(),
            requester_solved_at: None,
            rng,
            agent,
            groups: self.profile.groups.first().map(|g| (now, *g)).into_iter().collect(),
        };
        let first = self.comment_id();
        t.comments.push(Comment { id: first, at: now, author: Author::Requester, body: description, solves: false });

        let texts = Texts::of(self.profile.language);
        let mut cursor = now;
        if let Some(d) = self.profile.auto_ack {
            cursor = now + d.chrono();
            let c = Comment {
                id: self.comment_id(),
                at: cursor,
                author: Author::System,
                body: texts.ack(id),
                solves: false,
            };
            t.comments.push(c);
        }
        for _ in 0..self.profile.bot_turns {
            cursor += self.profile.bot_delay.chrono();
            let c = Comment {
                id: self.comment_id(),
                at: cursor,
                author: Author::Bot,
                body: texts.bot.into(),
                solves: false,
            };
            t.comments.push(c);
        }
        if t.rng.unit() >= self.profile.never_answer {
            let delay = t.rng.delay(&self.profile.human_delay);
            let at = self.work_time(now, delay, priority).max(cursor + Duration::seconds(1));
            let name = self.profile.agents.get(t.agent).cloned().unwrap_or_default();
            let c = Comment {
                id: self.comment_id(),
                at,
                author: Author::Agent(t.agent),
                body: texts.human(&name),
                solves: false,
            };
            t.comments.push(c);
            if let Some(rd) = self.profile.resolution_delay {
                let d = t.rng.delay(&rd);
                let solve_at = self.work_time(at, d, priority).max(at + Duration::seconds(1));
                let c = Comment {
                    id: self.comment_id(),
                    at: solve_at,
                    author: Author::Agent(t.agent),
                    body: texts.resolved.into(),
                    solves: true,
                };
                t.comments.push(c);
            }
        }
        self.tickets.push(t);
        id
    }

    /// A comment from the requester; the vendor plans its answer.
    pub(crate) fn requester_comment(&mut self, idx: usize, body: String, now: Ts) {
        let id = self.comment_id();
        let reply_id = self.comment_id();
        let profile = self.profile.clone();
        let texts = Texts::of(profile.language);
        let priority = self.tickets[idx].priority;
        let (delay, handoff) = {
            let t = &mut self.tickets[idx];
            (t.rng.delay(&profile.human_delay), t.rng.unit() < profile.handoff_share)
        };
        let reply_at = self.work_time(now, delay, priority);
        let t = &mut self.tickets[idx];
        t.comments.push(Comment { id, at: now, author: Author::Requester, body, solves: false });
        let answered_before = t.comments.iter().any(|c| matches!(c.author, Author::Agent(_)) && c.at <= now);
        if t.vendor_solved_at(now).is_some() || !answered_before {
            // Solved tickets and never-answered ones get no new answer.
            return;
        }
        if handoff && profile.agents.len() > 1 {
            t.agent = (t.agent + 1) % profile.agents.len();
            // Handed to the engineers' group, from the new person's answer on.
            if let Some(g) = profile.groups.get(1) {
                t.groups.push((reply_at, *g));
            }
        }
        let name = profile.agents.get(t.agent).cloned().unwrap_or_default();
        t.comments.push(Comment {
            id: reply_id,
            at: reply_at,
            author: Author::Agent(t.agent),
            body: texts.follow(&name),
            solves: false,
        });
        // A planned fix is posted after the answer to the follow-up, not before it.
        if let Some(solve) = t.comments.iter_mut().find(|c| c.solves && c.at > now)
            && solve.at <= reply_at
        {
            solve.at = reply_at + Duration::seconds(2);
        }
        t.comments.sort_by_key(|c| (c.at, c.id));
    }

    /// The requester marks the ticket solved; nothing planned after now happens.
    pub(crate) fn requester_solve(&mut self, idx: usize, now: Ts) {
        let t = &mut self.tickets[idx];
        if t.requester_solved_at.is_none() && t.vendor_solved_at(now).is_none() {
            t.requester_solved_at = Some(now);
        }
        t.comments.retain(|c| c.at <= now);
    }
}

struct Texts {
    ack: &'static str,
    bot: &'static str,
    human: &'static str,
    follow: &'static str,
    resolved: &'static str,
}

impl Texts {
    fn of(lang: Lang) -> Texts {
        match lang {
            Lang::En => Texts {
                ack: "Thank you for contacting support. Your request ({id}) has been received and is being reviewed by our support staff. We will respond within 24 hours.",
                bot: "Hi! I'm an AI assistant. While you wait, these articles may help: \"Troubleshooting call quality\" and \"Collecting SDK logs\". Did this answer your question?",
                human: "Hi, this is {agent} from the support team. Thanks for the detailed report. Could you share the SDK logs from both devices and the exact SDK version?",
                follow: "Thanks for the logs, {agent} here. Our engineers are analysing them now; I will update you shortly.",
                resolved: "We found the cause: the reconnect timer was too short on network handover. The fix is in the latest SDK release. I'm marking this as solved; reply if anything is still unclear.",
            },
            Lang::Zh => Texts {
                ack: "您好，您的工单 #{id} 已生成，我们会在24小时内处理。此邮件为系统自动发送，请勿直接回复。",
                bot: "您好，我是智能客服助手。请问您遇到的是以下哪类问题？1. 通话质量 2. 消息延迟 3. 其他",
                human: "您好，我是技术支持{agent}。麻烦提供一下两台设备的 SDK 日志和具体的 SDK 版本号，我们尽快排查。",
                follow: "收到日志，谢谢。我是{agent}，研发同事正在分析，有进展会第一时间同步您。",
                resolved: "问题原因已定位：网络切换时重连计时器过短。最新版本 SDK 已修复，该工单先标记为已解决，如仍有问题请直接回复。",
            },
        }
    }

    fn ack(&self, id: u64) -> String {
        self.ack.replace("{id}", &id.to_string())
    }

    fn human(&self, agent: &str) -> String {
        self.human.replace("{agent}", agent)
    }

    fn follow(&self, agent: &str) -> String {
        self.follow.replace("{agent}", agent)
    }
}

/// How a vendor's people triage a message that arrives without a priority:
/// an outage report is a P0 (on-call answers it out of hours too).
fn triage(subject: &str, body: &str) -> Option<Priority> {
    const OUTAGE: [&str; 4] = ["PRODUCTION DOWN", "线上故障", "線上故障", "本番障害"];
    OUTAGE.iter().any(|w| subject.contains(w) || body.contains(w)).then_some(Priority::P0)
}

/// Binds the simulator's listener.
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

/// Serves the simulated vendors until `shutdown` is cancelled.
pub async fn serve(sim: Simulator, listener: TcpListener, shutdown: CancellationToken) -> std::io::Result<()> {
    if sim.lock().values().any(|v| v.profile.webhook.is_some()) {
        tokio::spawn(send_webhooks(sim.clone(), shutdown.clone()));
    }
    axum::serve(listener, sim.router()).with_graceful_shutdown(shutdown.cancelled_owned()).await
}

/// How often the simulator looks for comments that have just become visible.
const WEBHOOK_SCAN: std::time::Duration = std::time::Duration::from_millis(20);

/// Sends each vendor's signed webhook, in the platform's own payload layout,
/// the moment a planned comment by someone at the vendor becomes visible.
async fn send_webhooks(sim: Simulator, shutdown: CancellationToken) {
    let mut last = Utc::now();
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(WEBHOOK_SCAN) => {}
        }
        let now = Utc::now();
        let mut due = Vec::new();
        for v in sim.lock().values() {
            let Some(hook) = &v.profile.webhook else { continue };
            let (from, to) = (last + v.faults.skew, now + v.faults.skew);
            for t in &v.tickets {
                for c in t.comments.iter().filter(|c| c.author != Author::Requester && c.at > from && c.at <= to) {
                    if let Some((kind, body)) = webhook_payload(t, c) {
                        due.push((hook.clone(), kind, body));
                    }
                }
            }
        }
        last = now;
        for (hook, kind, body) in due {
            let body = body.to_string().into_bytes();
            let headers = signing::headers(kind, hook.secret.as_bytes(), &body, Utc::now());
            tokio::spawn(async move {
                if let Err(e) = post::post(&hook.url, &headers, &body, std::time::Duration::from_secs(5)).await {
                    tracing::debug!(error = %e, "simulated webhook not delivered");
                }
            });
        }
    }
}

/// A platform's webhook about a new comment on a ticket, laid out as the
/// platform documents it (the fields the daemon reads, and a few around them).
fn webhook_payload(t: &SimTicket, c: &Comment) -> Option<(&'static str, serde_json::Value)> {
    use serde_json::json;
    let id = t.platform_id();
    let at = t.stamp(c.at, c.id);
    Some(match t.channel {
        "zendesk" => (
            "zendesk",
            json!({
                "account_id": 1, "detail": { "id": id, "status": t.status(c.at).to_uppercase() },
                "event": { "comment": { "id": c.id.to_string(), "body": c.body, "is_public": true } },
                "id": format!("01SIM{:020}", c.id), "subject": format!("zen:ticket:{id}"), "time": rfc3339(at),
                "type": "zen:event-type:ticket.comment_added", "zendesk_event_version": "2022-11-06",
            }),
        ),
        "github" => (
            "github",
            json!({
                "action": "created", "issue": { "number": t.id, "title": t.subject, "state": "open" },
                "comment": { "id": c.id, "body": c.body, "created_at": rfc3339(at) },
            }),
        ),
        "jira_sm" => (
            "jira_sm",
            json!({
                "timestamp": at.timestamp_millis(), "webhookEvent": "comment_created",
                "comment": { "id": c.id.to_string(), "body": c.body },
                "issue": { "id": t.id.to_string(), "key": id },
            }),
        ),
        "slack" => (
            "slack",
            json!({
                "type": "event_callback", "event_id": format!("EvSIM{}", c.id), "event_time": at.timestamp(),
                "event": { "type": "message", "text": c.body, "ts": slack_ts(at), "thread_ts": id, "channel": "CSIM" },
            }),
        ),
        "intercom" => (
            "intercom",
            json!({
                "type": "notification_event", "topic": "conversation.admin.replied", "id": format!("notif_sim_{}", c.id),
                "data": { "type": "notification_event_data", "item": { "type": "conversation", "id": id } },
                "created_at": at.timestamp(),
            }),
        ),
        "feishu" => (
            "feishu",
            json!({
                "schema": "2.0",
                "header": { "event_id": format!("sim{}", c.id), "event_type": "im.message.receive_v1", "create_time": at.timestamp_millis().to_string() },
                "event": { "message": { "message_id": format!("om_sim{}", c.id), "root_id": id, "parent_id": id, "message_type": "text" } },
            }),
        ),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use chrono::DateTime;

    use super::*;

    fn profile(hours: Calendar) -> Profile {
        Profile {
            vendor: "acme".into(),
            token: None,
            language: Lang::En,
            auto_ack: Some(Dur::from_secs(2)),
            bot_turns: 2,
            bot_delay: Dur::from_secs(3),
            human_delay: DurRange { min: Dur::from_secs(20), max: Dur::from_secs(20) },
            resolution_delay: Some(DurRange { min: Dur::from_secs(60), max: Dur::from_secs(60) }),
            never_answer: 0.0,
            hours: Arc::new(hours),
            on_call: vec![Priority::P0],
            agents: vec!["Alex".into(), "Wang".into()],
            handoff_share: 1.0,
            groups: vec![360_001, 360_099],
            rate_limit_per_minute: Some(2),
            page_size: 100,
            seed: 7,
            faults: faults::FaultPlan::default(),
            webhook: None,
        }
    }

    fn state(p: Profile) -> VendorState {
        let faults = faults::FaultState::new(p.faults.clone(), p.seed, &p.vendor);
        VendorState { profile: p, tickets: Vec::new(), next_comment: 1, requests: VecDeque::new(), faults }
    }

    fn utc(s: &str) -> Ts {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    #[test]
    fn plans_ack_bots_human_and_fix() {
        let mut v = state(profile(Calendar::always("24x7")));
        let t0 = utc("2026-11-23T10:00:00Z");
        v.create("zendesk", "[SP-00000001] Calls drop".into(), "body".into(), Some(Priority::P2), t0);
        let t = &v.tickets[0];
        assert_eq!(t.reference.as_deref(), Some("SP-00000001"));
        let authors: Vec<(Author, i64)> = t.comments.iter().map(|c| (c.author, (c.at - t0).num_seconds())).collect();
        assert_eq!(authors[..4], [(Author::Requester, 0), (Author::System, 2), (Author::Bot, 5), (Author::Bot, 8)]);
        assert_eq!(t.first_human_at(t0 + Duration::hours(1)), Some(t0 + Duration::seconds(20)));
        assert_eq!(t.first_human_at(t0 + Duration::seconds(19)), None, "not before its time");
        assert_eq!(t.vendor_solved_at(t0 + Duration::hours(1)), Some(t0 + Duration::seconds(80)));
        assert_eq!(t.status(t0 + Duration::seconds(1)), "new");
        assert_eq!(t.status(t0 + Duration::seconds(30)), "pending");
        assert_eq!(t.status(t0 + Duration::seconds(80)), "solved");
    }

    #[test]
    fn outage_reports_without_a_priority_field_are_triaged_p0() {
        assert_eq!(triage("【SP-1】【线上故障】通话中断", ""), Some(Priority::P0));
        assert_eq!(triage("Question", "PRODUCTION DOWN: calls drop"), Some(Priority::P0));
        assert_eq!(triage("Docs mismatch", "setAudioProfile"), None);
    }

    #[test]
    fn business_hours_delay_unless_on_call() {
        let mut w: [Vec<_>; 7] = Default::default();
        for d in w.iter_mut().take(5) {
            *d = supportprobe_core::calendar::parse_windows("09:00-18:00").unwrap();
        }
        let cn = Calendar::weekly("cn", chrono_tz::Asia::Shanghai, w, Default::default(), Default::default()).unwrap();
        let mut v = state(profile(cn));
        // Saturday noon in Shanghai.
        let sat = utc("2026-11-21T04:00:00Z");
        v.create("zendesk", "x".into(), "b".into(), Some(Priority::P2), sat);
        v.create("zendesk", "y".into(), "b".into(), Some(Priority::P0), sat);
        assert_eq!(v.tickets[0].first_human_at(sat + Duration::days(5)), Some(utc("2026-11-23T01:00:20Z")));
        assert_eq!(v.tickets[1].first_human_at(sat + Duration::days(5)), Some(sat + Duration::seconds(20)));
    }

    #[test]
    fn follow_up_gets_an_answer_and_the_fix_waits_for_it() {
        let mut v = state(profile(Calendar::always("24x7")));
        let t0 = utc("2026-11-23T10:00:00Z");
        v.create("zendesk", "x".into(), "b".into(), Some(Priority::P2), t0);
        v.requester_comment(0, "logs".into(), t0 + Duration::seconds(70));
        let t = &v.tickets[0];
        let reply = t.comments.iter().find(|c| c.at == t0 + Duration::seconds(90)).unwrap();
        assert_eq!(reply.author, Author::Agent((t.agent) % 2), "handed off");
        assert_eq!(t.vendor_solved_at(t0 + Duration::hours(1)), Some(t0 + Duration::seconds(92)));
        // The handoff moves it to the engineers' group from the new person's answer on.
        assert_eq!(t.group(t0 + Duration::seconds(89)), Some(360_001));
        assert_eq!(t.group(t0 + Duration::seconds(90)), Some(360_099));
    }

    #[test]
    fn requester_solve_cancels_the_plan() {
        let mut v = state(profile(Calendar::always("24x7")));
        let t0 = utc("2026-11-23T10:00:00Z");
        v.create("zendesk", "x".into(), "b".into(), Some(Priority::P2), t0);
        v.requester_solve(0, t0 + Duration::seconds(10));
        let t = &v.tickets[0];
        assert_eq!(t.first_human_at(t0 + Duration::hours(1)), None);
        assert_eq!(t.vendor_solved_at(t0 + Duration::hours(1)), None);
        assert_eq!(t.status(t0 + Duration::seconds(10)), "solved");
    }

    #[test]
    fn rate_limit_counts_requests() {
        let mut v = state(profile(Calendar::always("24x7")));
        assert!(v.admit().is_ok());
        assert!(v.admit().is_ok());
        let wait = v.admit().unwrap_err();
        assert!((1..=60).contains(&wait));
    }

    #[test]
    fn never_answer_share_one_never_answers() {
        let mut p = profile(Calendar::always("24x7"));
        p.never_answer = 1.0;
        let mut v = state(p);
        let t0 = utc("2026-11-23T10:00:00Z");
        v.create("zendesk", "x".into(), "b".into(), None, t0);
        assert_eq!(v.tickets[0].first_human_at(t0 + Duration::days(9)), None);
        assert!(v.tickets[0].comments.iter().any(|c| c.author == Author::Bot), "bots still talk");
    }
}

/// One page of offset pagination (`page`, `per_page`), as Zendesk, Freshdesk
/// and GitHub page; each renders the next page's link its own way.
pub(crate) struct OffsetPage<T> {
    pub items: Vec<T>,
    /// The page number served (from 1) and its size.
    pub page: usize,
    pub per_page: usize,
    /// Whether a page follows.
    pub more: bool,
}

/// The `page` of `items` at `per_page` (the platform's `default` when not
/// asked; never more than 100 nor the vendor's `cap`).
pub(crate) fn offset_page<T: Clone>(
    items: &[T],
    page: Option<usize>,
    per_page: Option<usize>,
    default: usize,
    cap: u32,
) -> OffsetPage<T> {
    let per_page = per_page.unwrap_or(default).clamp(1, 100).min((cap as usize).max(1));
    let page = page.unwrap_or(1).max(1);
    let start = (page - 1).saturating_mul(per_page);
    let more = start.saturating_add(per_page) < items.len();
    OffsetPage { items: items.iter().skip(start).take(per_page).cloned().collect(), page, per_page, more }
}

impl VendorState {
    /// The index of this vendor's ticket `id` on `channel`.
    pub(crate) fn ticket_on(&self, channel: &str, id: u64) -> Option<usize> {
        self.tickets.iter().position(|t| t.id == id && t.channel == channel)
    }
}

/// Why a simulated API turns a request away before the platform logic runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// No such vendor (site, workspace, repository) in the simulator.
    UnknownVendor,
    /// The request carried no credential the platform recognises.
    NoCredential,
    /// A credential, but not the vendor's.
    WrongCredential,
    /// Over the vendor's rate limit; retry after this many seconds.
    Limited(u64),
}

/// A presented credential against the vendor's token: any credential passes
/// when the vendor has none configured.
pub(crate) fn check_token(expected: Option<&str>, given: Option<&str>) -> Result<(), Refusal> {
    match (expected, given) {
        (_, None) => Err(Refusal::NoCredential),
        (Some(expected), Some(given)) if expected != given.trim() => Err(Refusal::WrongCredential),
        _ => Ok(()),
    }
}

/// The preamble every simulated API shares: find the vendor, check the
/// credential (`authorize` gets the vendor's token), count the request
/// against the rate limit, then run `f` at the simulated now. `refuse`
/// renders a refusal in the platform's own error shape.
pub(crate) fn guarded(
    sim: &Simulator,
    vendor: &str,
    authorize: impl FnOnce(Option<&str>) -> Result<(), Refusal>,
    refuse: impl FnOnce(Refusal) -> axum::response::Response,
    f: impl FnOnce(&mut VendorState, Ts) -> axum::response::Response,
) -> axum::response::Response {
    let mut vendors = sim.lock();
    let Some(v) = vendors.get_mut(vendor) else { return refuse(Refusal::UnknownVendor) };
    if let Err(r) = authorize(v.profile.token.as_deref()) {
        return refuse(r);
    }
    if let Err(wait) = v.admit() {
        return refuse(Refusal::Limited(wait));
    }
    let now = now() + v.faults.skew;
    f(v, now)
}

/// `response` with extra headers (rate-limit hints); values that are not
/// valid header text are left out.
pub(crate) fn with_headers(
    mut response: axum::response::Response,
    headers: impl IntoIterator<Item = (&'static str, String)>,
) -> axum::response::Response {
    for (name, value) in headers {
        if let Ok(v) = axum::http::HeaderValue::from_str(&value) {
            response.headers_mut().insert(name, v);
        }
    }
    response
}

/// The user and password of a `Basic` credential.
fn basic(headers: &axum::http::HeaderMap) -> Option<(String, String)> {
    use base64::Engine as _;
    let value = headers.get(axum::http::header::AUTHORIZATION)?.to_str().ok()?;
    let decoded = base64::engine::general_purpose::STANDARD.decode(value.strip_prefix("Basic ")?.trim()).ok()?;
    String::from_utf8(decoded).ok()?.split_once(':').map(|(u, p)| (u.to_string(), p.to_string()))
}

/// The user part of a `Basic` credential (Freshdesk puts its API key there).
pub(crate) fn basic_user(headers: &axum::http::HeaderMap) -> Option<String> {
    basic(headers).map(|(u, _)| u)
}

/// The password part of a `Basic` credential (an API token).
pub(crate) fn basic_password(headers: &axum::http::HeaderMap) -> Option<String> {
    basic(headers).map(|(_, p)| p)
}

/// The token of a `Bearer` credential.
pub(crate) fn bearer(headers: &axum::http::HeaderMap) -> Option<&str> {
    headers.get(axum::http::header::AUTHORIZATION)?.to_str().ok()?.strip_prefix("Bearer ").map(str::trim)
}
