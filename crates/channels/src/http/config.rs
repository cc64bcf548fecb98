//! The `[vendors.VENDOR.channels.CHANNEL.http]` table: what it holds, how it
//! is checked (every problem located), and the line `check` prints for it.

use serde::Deserialize;
use supportprobe_core::secret::Secret;
use toml::Spanned;

use crate::check::{Checker, HttpUrl};

/// A REST ticket API described in config (see the `http` channel's adapter, `super`). Field
/// paths are JSON pointers; they keep their spans so a mistake is shown
/// where it was written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGeneric {
    pub base_url: HttpUrl,
    /// Sent with every request; values may be secrets (`${VAR}`).
    #[serde(default)]
    pub headers: std::collections::BTreeMap<String, Spanned<String>>,
    pub open: RawGenericOpen,
    pub poll: RawGenericPoll,
    pub reply: RawGenericCall,
    pub close: Option<RawGenericCall>,
    /// How to find a ticket by its reference (crash recovery).
    pub find: Option<RawGenericFind>,
    /// Author-kind field values to `requester`, `agent`, `bot` or `automation`.
    #[serde(default)]
    pub kinds: std::collections::BTreeMap<String, Spanned<String>>,
    /// For values `kinds` does not map (default `agent`).
    pub default_kind: Option<Spanned<String>>,
    /// Status values that mean resolved.
    #[serde(default)]
    pub resolved_values: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGenericCall {
    /// Default `POST`.
    pub method: Option<Spanned<String>>,
    pub path: String,
    pub body: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGenericOpen {
    /// Default `POST`.
    pub method: Option<Spanned<String>>,
    pub path: String,
    pub body: Option<String>,
    /// JSON pointer to the new ticket's id.
    pub id: Spanned<String>,
    pub created_at: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGenericPoll {
    /// The request that returns the replies (GET).
    pub path: String,
    /// A separate request for the status, when the replies' answer lacks it.
    pub status_path: Option<String>,
    pub status: Option<Spanned<String>>,
    pub status_at: Option<Spanned<String>>,
    pub replies: Spanned<String>,
    pub reply_id: Spanned<String>,
    pub reply_at: Spanned<String>,
    pub reply_body: Spanned<String>,
    pub reply_author: Option<Spanned<String>>,
    pub reply_author_kind: Option<Spanned<String>>,
    /// JSON pointer to the next page's URL (absent, null or empty: the last
    /// page). A `Link: <…>; rel="next"` header is followed without it.
    pub next: Option<Spanned<String>>,
}

/// A listing of our tickets in which a lost ticket is recognised by its
/// reference.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGenericFind {
    /// The request (GET) that lists our tickets, newest first if it can;
    /// may use `{{reference}}` when the API can search.
    pub path: String,
    /// JSON pointer to the array of tickets in the answer.
    pub items: Spanned<String>,
    /// Within a ticket: its id, and its creation time (the probe is timed from it).
    pub id: Spanned<String>,
    pub created_at: Spanned<String>,
    /// Within a ticket: the fields that may carry the reference (subject, description).
    pub matches: Spanned<Vec<Spanned<String>>>,
    /// JSON pointer to the next page's URL (or a `Link` header).
    pub next: Option<Spanned<String>>,
    /// How many pages to read at most (default 5).
    pub pages: Option<Spanned<u32>>,
}

/// One templated request of the `http` channel.
#[derive(Clone, Debug)]
pub struct GenericCall {
    pub method: String,
    pub path: String,
    pub body: Option<String>,
}

#[derive(Clone, Debug)]
pub struct GenericOpen {
    pub call: GenericCall,
    pub id: String,
    pub created_at: Option<String>,
}

#[derive(Clone, Debug)]
pub struct GenericPoll {
    pub call: GenericCall,
    pub status_call: Option<GenericCall>,
    pub status: Option<String>,
    pub status_at: Option<String>,
    pub replies: String,
    pub reply_id: String,
    pub reply_at: String,
    pub reply_body: String,
    pub reply_author: Option<String>,
    pub reply_author_kind: Option<String>,
    pub next: Option<String>,
}

/// See `raw::RawGenericFind`.
#[derive(Clone, Debug)]
pub struct GenericFind {
    pub call: GenericCall,
    pub items: String,
    pub id: String,
    pub created_at: String,
    pub matches: Vec<String>,
    pub next: Option<String>,
    pub pages: u32,
}

#[derive(Clone, Debug)]
pub struct GenericSettings {
    pub base_url: reqwest::Url,
    pub headers: Vec<(String, Secret)>,
    pub open: GenericOpen,
    pub poll: GenericPoll,
    pub reply: GenericCall,
    pub close: Option<GenericCall>,
    pub find: Option<GenericFind>,
    pub kinds: std::collections::BTreeMap<String, String>,
    pub default_kind: String,
    pub resolved_values: Vec<String>,
}

pub(crate) fn from_raw(cx: &mut Checker<'_>, rh: &Spanned<RawGeneric>) -> Option<GenericSettings> {
    let g = rh.get_ref();
    let mut ok = true;
    let mut headers = Vec::new();
    for (name, value) in &g.headers {
        match cx.expand(value) {
            Some((v, _)) => headers.push((name.clone(), Secret::new(v))),
            None => ok = false,
        }
    }
    let methods = ["GET", "POST", "PUT", "PATCH", "DELETE"];
    let mut call = |cx: &mut Checker<'_>, method: &Option<Spanned<String>>, path: &str, body: &Option<String>| {
        let m = method.as_ref().map_or("POST", |m| m.get_ref().as_str());
        if let Some(at) = method
            && !methods.contains(&m)
        {
            cx.err(at, format!("http: method `{m}` is not one of {}", methods.join(", ")));
            ok = false;
        }
        GenericCall { method: m.to_string(), path: path.to_string(), body: body.clone() }
    };
    let open_call = call(cx, &g.open.method, &g.open.path, &g.open.body);
    let reply = call(cx, &g.reply.method, &g.reply.path, &g.reply.body);
    let close = g.close.as_ref().map(|c| call(cx, &c.method, &c.path, &c.body));
    let get = |path: &str| GenericCall { method: "GET".into(), path: path.to_string(), body: None };

    // Every field path is a JSON pointer, checked where it was written.
    let (o, p) = (&g.open, &g.poll);
    let mut pointers: Vec<&Spanned<String>> = vec![&o.id, &p.replies, &p.reply_id, &p.reply_at, &p.reply_body];
    pointers.extend(
        [&o.created_at, &p.status, &p.status_at, &p.reply_author, &p.reply_author_kind, &p.next].into_iter().flatten(),
    );
    if let Some(f) = &g.find {
        pointers.extend([&f.items, &f.id, &f.created_at]);
        pointers.extend(&f.next);
        pointers.extend(f.matches.get_ref());
        if f.matches.get_ref().is_empty() {
            cx.err(
                &f.matches,
                "http: `find.matches` names no field to look for the reference in (e.g. [\"/subject\"])",
            );
            ok = false;
        }
        if let Some(pages) = &f.pages
            && !(1..=100).contains(pages.get_ref())
        {
            cx.err(pages, format!("http: `find.pages = {}` must be between 1 and 100", pages.get_ref()));
            ok = false;
        }
    }
    for ptr in pointers {
        let v = ptr.get_ref();
        if !v.is_empty() && !v.starts_with('/') {
            cx.err(ptr, format!("http: `{v}` is not a JSON pointer (they start with `/`, e.g. `/ticket/id`)"));
            ok = false;
        }
    }
    let valid_kinds = ["requester", "agent", "bot", "automation", "bystander", "unknown"];
    for k in g.kinds.values().chain(&g.default_kind) {
        if !valid_kinds.contains(&k.get_ref().as_str()) {
            cx.err(k, format!("http: author kind `{}` is not one of {}", k.get_ref(), valid_kinds.join(", ")));
            ok = false;
        }
    }
    let text = |s: &Spanned<String>| s.get_ref().clone();
    let opt = |s: &Option<Spanned<String>>| s.as_ref().map(text);
    let open = GenericOpen { call: open_call, id: text(&o.id), created_at: opt(&o.created_at) };
    let poll = GenericPoll {
        call: get(&p.path),
        status_call: p.status_path.as_deref().map(get),
        status: opt(&p.status),
        status_at: opt(&p.status_at),
        replies: text(&p.replies),
        reply_id: text(&p.reply_id),
        reply_at: text(&p.reply_at),
        reply_body: text(&p.reply_body),
        reply_author: opt(&p.reply_author),
        reply_author_kind: opt(&p.reply_author_kind),
        next: opt(&p.next),
    };
    let find = g.find.as_ref().map(|f| GenericFind {
        call: get(&f.path),
        items: text(&f.items),
        id: text(&f.id),
        created_at: text(&f.created_at),
        matches: f.matches.get_ref().iter().map(text).collect(),
        next: opt(&f.next),
        pages: f.pages.as_ref().map_or(5, |p| *p.get_ref()),
    });
    ok.then(|| GenericSettings {
        base_url: g.base_url.0.clone(),
        headers,
        open,
        poll,
        reply,
        close,
        find,
        kinds: g.kinds.iter().map(|(k, v)| (k.clone(), text(v))).collect(),
        default_kind: g.default_kind.as_ref().map_or_else(|| "agent".to_string(), text),
        resolved_values: g.resolved_values.clone(),
    })
}

impl GenericSettings {
    /// How `check` shows the channel (secrets only as where they come from).
    pub fn describe(&self) -> String {
        let g = self;
        format!(
            "{} (described API: open {} {}; {} header(s), values not shown)",
            g.base_url,
            g.open.call.method,
            g.open.call.path,
            g.headers.len()
        )
    }
}
