//! The overview's server push (`/ui/overview/stream`): a fragment at once, a new one after
//! traffic is recorded, held to a member's key, a bounded number of streams per session, the
//! end of the stream with the session, and no hold-up of a graceful shutdown.

mod common;
use common::*;
use crossbar_protocol::sse::{Decoder, SseEvent};
use futures_util::StreamExt;
use serde_json::json;
use std::time::Duration;

const OPEN: &str = "[[providers]]\nname = \"mock\"\nkind = \"mock\"\n";

/// An open SSE response read event by event.
struct Events {
    body: futures_util::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    decoder: Decoder,
    ready: std::collections::VecDeque<SseEvent>,
}

impl Events {
    async fn open(url: &str, cookie: Option<&str>) -> Events {
        let mut rq = client().get(url);
        if let Some(c) = cookie {
            rq = rq.header("cookie", c);
        }
        let r = rq.send().await.expect("stream");
        assert_eq!(r.status(), 200, "{url}");
        let ct = r.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        assert!(ct.starts_with("text/event-stream"), "{ct}");
        Events { body: r.bytes_stream().boxed(), decoder: Decoder::default(), ready: Default::default() }
    }

    /// The next event, or `None` when the stream ended (bounded by 30 s: a failure, not a wait).
    async fn next(&mut self) -> Option<SseEvent> {
        tokio::time::timeout(Duration::from_secs(30), async {
            loop {
                if let Some(e) = self.ready.pop_front() {
                    return Some(e);
                }
                let mut out = Vec::new();
                match self.body.next().await {
                    Some(Ok(chunk)) => self.decoder.push(&chunk, &mut out),
                    _ => {
                        self.decoder.finish(&mut out);
                        self.ready.extend(out);
                        return self.ready.pop_front();
                    }
                }
                self.ready.extend(out);
            }
        })
        .await
        .expect("an event or the end within 30 s")
    }

    /// The next `overview` event's request count.
    async fn requests(&mut self) -> i64 {
        loop {
            let e = self.next().await.expect("the stream goes on");
            if e.event.as_deref() == Some("overview") {
                return requests_in(&e.data);
            }
        }
    }
}

/// The "Requests" figure of an overview fragment.
fn requests_in(html: &str) -> i64 {
    let after = html.split("data-stat=\"requests\"").nth(1).expect("requests stat");
    let value = after.split("class=\"value\">").nth(1).and_then(|s| s.split('<').next()).expect("value");
    value.trim().parse().unwrap_or_else(|_| panic!("a count: {value}"))
}

async fn chat(gw: &Gateway, key: Option<&str>) {
    let body = json!({"model": "mock/echo", "messages": [{"role": "user", "content": "hi"}]});
    let mut rq = client().post(format!("{}/v1/chat/completions", gw.url)).json(&body);
    if let Some(k) = key {
        rq = rq.bearer_auth(k);
    }
    assert_eq!(rq.send().await.expect("send").status(), 200);
}

#[tokio::test]
async fn the_overview_is_pushed_after_traffic_and_streams_end_at_shutdown() {
    let mut gw = Gateway::start(OPEN).await;
    let url = format!("{}/ui/overview/stream?range=1h", gw.url);
    let mut s = Events::open(&url, None).await;
    assert_eq!(s.requests().await, 0, "the current figures at once");
    chat(&gw, None).await;
    assert_eq!(s.requests().await, 1, "pushed after the batch is written");
    chat(&gw, None).await;
    chat(&gw, None).await;
    let mut n = s.requests().await;
    if n < 3 {
        n = s.requests().await;
    }
    assert_eq!(n, 3);

    // A session holds at most MAX_PER_SESSION streams (the open dashboard is one session).
    let mut more = Vec::new();
    for _ in 1..4 {
        more.push(Events::open(&url, None).await);
    }
    assert_eq!(gw.state.ui.live.count(), 4);
    assert!(gw.metrics().await.contains("crossbar_dashboard_live_streams 4\n"), "the open streams are a metric");
    let r = client().get(&url).send().await.expect("fifth");
    assert_eq!(r.status(), 429);
    assert!(r.text().await.expect("body").contains("Too many live views"));

    // Shutdown ends every stream at once rather than waiting out the drain timeout.
    let started = std::time::Instant::now();
    gw.shutdown();
    while let Some(e) = s.next().await {
        assert_ne!(e.event.as_deref(), Some("signed-out"));
    }
    for mut m in more {
        while m.next().await.is_some() {}
    }
    tokio::time::timeout(Duration::from_secs(20), &mut gw.handle)
        .await
        .expect("server stops")
        .expect("join")
        .expect("run");
    assert!(started.elapsed() < Duration::from_secs(20));
    assert_eq!(gw.state.ui.live.count(), 0, "every slot given back");
}

/// Sign in through the form; the session cookie (`name=value`).
async fn sign_in(gw: &Gateway, key: &str) -> String {
    let c = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    let r = c
        .post(format!("{}/ui/signin", gw.url))
        .header("origin", gw.url.as_str())
        .form(&[("key", key)])
        .send()
        .await
        .expect("sign in");
    assert_eq!(r.status(), 303, "signed in");
    let set = r.headers().get("set-cookie").and_then(|v| v.to_str().ok()).expect("cookie");
    set.split(';').next().expect("name=value").to_string()
}

#[tokio::test]
async fn a_members_stream_counts_their_key_only_and_ends_with_their_session() {
    let gw = Gateway::start_admin(&format!("[auth]\n{OPEN}"), "admin-live-test").await;
    let (mine, _) = make_key(&gw, Default::default(), None).await;
    let (other, _) = make_key(&gw, Default::default(), None).await;
    let cookie = sign_in(&gw, &mine).await;
    let url = format!("{}/ui/overview/stream?range=1h", gw.url);
    let r = client().get(&url).send().await.expect("no cookie");
    assert_eq!(r.status(), 401, "a stream without a session is refused, not redirected");

    let mut s = Events::open(&url, Some(&cookie)).await;
    assert_eq!(s.requests().await, 0);
    chat(&gw, Some(&other)).await;
    chat(&gw, Some(&mine)).await;
    // Another key's request may come in a batch of its own: it never shows in this count.
    let mut n = s.requests().await;
    if n == 0 {
        n = s.requests().await;
    }
    assert_eq!(n, 1, "only the member's own request");

    // Signing out ends the stream at its next render (the next batch here).
    let sha = {
        use sha2::Digest;
        let id = cookie.split_once('=').map(|(_, v)| v).expect("value");
        hex::encode(sha2::Sha256::digest(id.as_bytes()))
    };
    gw.state.store.delete_session(&sha).await.expect("sign out");
    chat(&gw, Some(&mine)).await;
    let mut last = None;
    while let Some(e) = s.next().await {
        last = e.event;
    }
    assert_eq!(last.as_deref(), Some("signed-out"));
}

#[tokio::test]
async fn another_instances_traffic_is_pushed_by_the_tick() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = format!("sqlite:{}?mode=rwc", dir.path().join("shared.db").display());
    let config = format!("[storage]\nurl = {db:?}\n{OPEN}");
    let a = Gateway::start(&config).await;
    let b = Gateway::start(&config).await;
    let mut s = Events::open(&format!("{}/ui/overview/stream?range=1h", a.url), None).await;
    assert_eq!(s.requests().await, 0);
    let mut written = b.state.usage.written();
    chat(&b, None).await;
    written.changed().await.expect("b wrote its batch");
    let seen = std::time::Instant::now();
    // Instance a's writer never signals this batch: its stream's tick renders it.
    assert_eq!(s.requests().await, 1);
    let bound = crossbar::ui::live::TICK + crossbar::ui::live::MIN_GAP + Duration::from_secs(3);
    assert!(seen.elapsed() < bound, "{:?}", seen.elapsed());
}
