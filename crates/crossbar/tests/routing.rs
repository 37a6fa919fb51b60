//! Routing and failover through a real gateway: deployments are in-process mock providers,
//! each misbehaving in its own way through its provider `x-mock` header (docs/mock-upstream.md).

mod common;
use common::*;
use crossbar::routing::health::Availability;
use futures_util::StreamExt;
use std::collections::HashMap;
use std::time::Duration;

/// A mock provider named `name` whose every request carries the directives `x_mock`.
fn deployment(name: &str, x_mock: &str) -> String {
    let headers =
        if x_mock.is_empty() { String::new() } else { format!("headers = {{ \"x-mock\" = \"{x_mock}\" }}\n") };
    format!("[[providers]]\nname = \"{name}\"\nkind = \"mock\"\n{headers}\n")
}

/// `[routing]` for fast tests (no backoff) plus `extra`, then the providers and models.
fn config(routing: &str, providers: &[(&str, &str)], models: &str) -> String {
    let mut s = format!("[routing]\nbackoff_ms = 0\n{routing}\n");
    for (name, x_mock) in providers {
        s.push_str(&deployment(name, x_mock));
    }
    s.push_str(models);
    s
}

struct Answer {
    status: u16,
    provider: String,
    attempts: u32,
    text: String,
    body: String,
}

async fn ask_with(gw: &Gateway, c: Client, model: &str, text: &str, stream: bool, headers: &[(&str, &str)]) -> Answer {
    let (path, body) = request(c, model, text, stream);
    let mut req = client().post(format!("{}{path}", gw.url)).json(&body);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let r = req.send().await.expect("send");
    let status = r.status().as_u16();
    let h = r.headers().clone();
    let body = r.text().await.expect("body");
    let get = |n: &str| h.get(n).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    Answer {
        status,
        provider: get("x-crossbar-provider"),
        attempts: get("x-crossbar-attempts").parse().unwrap_or(0),
        text: text_of(c, &body, stream),
        body,
    }
}

async fn ask(gw: &Gateway, model: &str, text: &str) -> Answer {
    ask_with(gw, Client::Chat, model, text, false, &[]).await
}

#[tokio::test]
async fn one_request_fails_over_across_three_deployments_and_the_client_sees_one_clean_answer() {
    for c in CLIENTS {
        for stream in [false, true] {
            // A non-streamed body cut half-way has not reached the client yet: retried too.
            let b = if stream { "mock:error=529" } else { "mock:drop" };
            let cfg = config(
                "",
                &[("a", "mock:error=503"), ("b", b), ("c", "")],
                "[[models]]\nname = \"m\"\ntargets = [\"a/x\", \"b/x\", \"c/x\"]\n",
            );
            let gw = Gateway::start(&cfg).await;
            let a = ask_with(&gw, c, "m", "hello", stream, &[]).await;
            assert_eq!(a.status, 200, "{c:?} stream={stream}: {}", a.body);
            assert_eq!((a.provider.as_str(), a.attempts), ("c", 3), "{c:?} stream={stream}");
            assert_eq!(a.text, "echo: hello", "{c:?} stream={stream}: {}", a.body);
        }
    }
}

#[tokio::test]
async fn a_stream_broken_after_its_first_bytes_is_not_switched() {
    let cfg = config(
        "",
        &[("a", "mock:midstream-error"), ("b", "")],
        "[[models]]\nname = \"m\"\ntargets = [\"a/x\", \"b/x\"]\n",
    );
    let gw = Gateway::start(&cfg).await;
    let a = ask_with(&gw, Client::Anthropic, "m", "hello", true, &[]).await;
    assert_eq!(a.status, 200);
    assert_eq!(a.provider, "a", "committed on the first event: no silent switch");
    assert!(a.body.contains("event: error"), "{}", a.body);
}

#[tokio::test]
async fn non_retryable_errors_are_answered_and_context_overflow_goes_to_the_fallback() {
    let cfg = config(
        "",
        &[("bad", "mock:error=401"), ("ok", ""), ("short", "mock:context-overflow"), ("long", "")],
        "[[models]]\nname = \"auth\"\ntargets = [\"bad/x\", \"ok/x\"]\n\n\
         [[models]]\nname = \"big\"\ntargets = [\"long/x\"]\n\n\
         [[models]]\nname = \"small\"\nfallbacks = [\"big\"]\ntargets = [\"short/x\"]\n\n\
         [[models]]\nname = \"small-alone\"\ntargets = [\"short/x\"]\n",
    );
    let gw = Gateway::start(&cfg).await;
    let a = ask(&gw, "auth", "hi").await;
    assert_eq!((a.status, a.provider.as_str()), (401, "bad"), "a 401 is not retried: {}", a.body);
    for c in CLIENTS {
        let a = ask_with(&gw, c, "small", "a very long prompt", false, &[]).await;
        assert_eq!(a.status, 200, "{c:?}: {}", a.body);
        assert_eq!(a.provider, "long", "{c:?}");
        let a = ask_with(&gw, c, "small-alone", "a very long prompt", false, &[]).await;
        assert_eq!(a.status, 400, "{c:?}: without fallbacks the overflow is the answer");
        assert!(a.body.contains("context"), "{}", a.body);
    }
}

#[tokio::test]
async fn one_deployment_is_retried_after_a_backoff() {
    let cfg = config("", &[("flaky", "mock:fail-first=2 mock:fail-status=503")], "");
    let gw = Gateway::start(&cfg).await;
    let a = ask(&gw, "flaky/x", "hi").await;
    assert_eq!((a.status, a.attempts), (200, 3), "{}", a.body);
    // The budget is finite: a deployment that always fails gives its own error back.
    let cfg = config("retries = 2", &[("down", "mock:error=502")], "");
    let gw = Gateway::start(&cfg).await;
    let a = ask(&gw, "down/x", "hi").await;
    assert_eq!(a.status, 502, "{}", a.body);
}

#[tokio::test]
async fn a_failing_deployment_cools_down_is_probed_and_recovers() {
    // A cooldown long enough that a loaded machine cannot outlast it between two requests;
    // the test waits for the deployment's own state to say "probe" rather than for a time.
    let cfg = config(
        "failures_to_cooldown = 2\ncooldown_ms = 1500",
        &[("a", "mock:fail-first=3 mock:fail-status=500"), ("b", "")],
        "[[models]]\nname = \"m\"\nsticky = false\ntargets = [\"a/x\", \"b/x\"]\n",
    );
    let gw = Gateway::start(&cfg).await;
    let seen = |a: &Answer| (a.provider.clone(), a.attempts);
    assert_eq!(seen(&ask(&gw, "m", "1").await), ("b".into(), 2));
    assert_eq!(seen(&ask(&gw, "m", "2").await), ("b".into(), 2), "second failure opens the breaker");
    assert_eq!(seen(&ask(&gw, "m", "3").await), ("b".into(), 1), "cooling: not tried");
    assert!(until(10, || availability(&gw, "m", 0) == Availability::Probe).await, "the cooldown ends");
    assert_eq!(seen(&ask(&gw, "m", "4").await), ("b".into(), 2), "the probe fails: cooldown again");
    assert_eq!(seen(&ask(&gw, "m", "5").await), ("b".into(), 1));
    assert!(until(10, || availability(&gw, "m", 0) == Availability::Probe).await, "the cooldown ends");
    assert_eq!(seen(&ask(&gw, "m", "6").await), ("a".into(), 1), "the probe succeeds: back in service");
    assert_eq!(seen(&ask(&gw, "m", "7").await), ("a".into(), 1));
}

#[tokio::test]
async fn rate_limited_deployments_are_parked_until_their_reset() {
    let cfg = config(
        "",
        &[("a", "mock:fail-first=1 mock:fail-status=429 mock:ratelimit-reset=2"), ("b", ""), ("codex", "mock:usage-limit mock:ratelimit-reset=30")],
        "[[models]]\nname = \"m\"\nsticky = false\ntargets = [\"a/x\", \"b/x\"]\n\n[[models]]\nname = \"solo\"\ntargets = [\"codex/x\"]\n",
    );
    let gw = Gateway::start(&cfg).await;
    let a = ask(&gw, "m", "1").await;
    assert_eq!((a.provider.as_str(), a.attempts), ("b", 2), "a 429 moves on without waiting");
    let a = ask(&gw, "m", "2").await;
    assert_eq!((a.provider.as_str(), a.attempts), ("b", 1), "parked until its reset");
    assert!(until(10, || availability(&gw, "m", 0) == Availability::Ready).await, "the reset comes");
    let a = ask(&gw, "m", "3").await;
    assert_eq!((a.provider.as_str(), a.attempts), ("a", 1), "back after the reset");

    // A usage-limited account: its 429 goes to the client, then the gateway answers for it
    // until the window resets, without asking upstream again.
    let a = ask(&gw, "solo", "x").await;
    assert_eq!(a.status, 429, "{}", a.body);
    assert!(a.body.contains("usage_limit_reached"), "{}", a.body);
    for c in CLIENTS {
        let (path, body) = request(c, "solo", "x", false);
        let (status, headers, text) = post(&gw, &path, &body).await;
        assert_eq!(status, 429, "{c:?}: {text}");
        let v: serde_json::Value = serde_json::from_str(&text).expect("json");
        assert!(is_protocol_error(c, &v), "{c:?}: {v}");
        let wait: u64 = headers["retry-after"].to_str().expect("ascii").parse().expect("seconds");
        assert!((25..=30).contains(&wait), "{wait}");
    }
}

fn histogram(answers: &[Answer]) -> HashMap<String, usize> {
    let mut h = HashMap::new();
    for a in answers {
        assert_eq!(a.status, 200, "{}", a.body);
        *h.entry(a.provider.clone()).or_insert(0) += 1;
    }
    h
}

async fn many(gw: &Gateway, model: &str, n: usize, concurrency: usize) -> Vec<Answer> {
    futures_util::stream::iter(0..n)
        .map(|i| async move { ask(gw, model, &format!("request {i}")).await })
        .buffer_unordered(concurrency)
        .collect()
        .await
}

#[tokio::test]
async fn weighted_and_priority_distributions() {
    let cfg = config(
        "",
        &[("a", ""), ("b", ""), ("c", "")],
        "[[models]]\nname = \"w\"\nstrategy = \"weighted\"\nsticky = false\n\
         targets = [{ target = \"a/x\", weight = 1 }, { target = \"b/x\", weight = 3 }, { target = \"c/x\", weight = 6 }]\n\n\
         [[models]]\nname = \"p\"\nstrategy = \"priority\"\n\
         targets = [{ target = \"a/x\", priority = 2 }, { target = \"b/x\", priority = 1 }, \"c/x\"]\n",
    );
    let gw = Gateway::start(&cfg).await;
    let h = histogram(&many(&gw, "w", 2000, 16).await);
    // Binomial bounds, ±5 standard deviations: a 200±67, b 600±102, c 1200±110.
    let within = |k: &str, mean: f64, sd: f64| (*h.get(k).unwrap_or(&0) as f64 - mean).abs() < 5.0 * sd;
    assert!(within("a", 200.0, 13.4) && within("b", 600.0, 20.5) && within("c", 1200.0, 21.9), "{h:?}");
    let h = histogram(&many(&gw, "p", 50, 8).await);
    assert_eq!(h.get("c"), Some(&50), "lowest priority value first: {h:?}");
}

#[tokio::test]
async fn least_busy_latency_and_headroom_distributions() {
    let cfg = config(
        "",
        &[("slow", "mock:stall=60 mock:headroom=10"), ("fast", "mock:headroom=90")],
        "[[models]]\nname = \"busy\"\nstrategy = \"least-busy\"\nsticky = false\ntargets = [\"slow/x\", \"fast/x\"]\n\n\
         [[models]]\nname = \"lat\"\nstrategy = \"latency\"\nsticky = false\ntargets = [\"slow/x\", \"fast/x\"]\n\n\
         [[models]]\nname = \"room\"\nstrategy = \"headroom\"\nsticky = false\ntargets = [\"slow/x\", \"fast/x\"]\n",
    );
    let gw = Gateway::start(&cfg).await;
    // Least busy: slow answers pile up in flight, so most traffic goes to the fast one.
    let h = histogram(&many(&gw, "busy", 200, 8).await);
    assert!(h.get("fast").copied().unwrap_or(0) >= 150, "{h:?}");
    // Latency: both are measured once (unmeasured first), then the fast one takes everything.
    let h = histogram(&many(&gw, "lat", 40, 1).await);
    assert!(h.get("slow").copied().unwrap_or(0) <= 2, "{h:?}");
    // Headroom: after one answer each reports its quota, the roomier one is chosen.
    let h = histogram(&many(&gw, "room", 40, 1).await);
    assert!(h.get("slow").copied().unwrap_or(0) <= 2, "{h:?}");
}

#[tokio::test]
async fn conversations_stick_to_their_deployment_and_move_when_it_fails() {
    let all_fail_after_5 = "mock:fail-after=5 mock:fail-status=503";
    let cfg = config(
        "",
        &[("a", all_fail_after_5), ("b", all_fail_after_5), ("c", all_fail_after_5)],
        "[[models]]\nname = \"m\"\nstrategy = \"weighted\"\ntargets = [\"a/x\", \"b/x\", \"c/x\"]\n",
    );
    let gw = Gateway::start(&cfg).await;
    let session = [("session_id", "thread-1")];
    let first = ask_with(&gw, Client::Responses, "m", "turn 1", false, &session).await;
    for i in 2..=5 {
        let a = ask_with(&gw, Client::Responses, "m", &format!("turn {i}"), false, &session).await;
        assert_eq!((a.status, a.provider.as_str(), a.attempts), (200, first.provider.as_str(), 1), "turn {i} stays");
    }
    // Its deployment now fails: the conversation moves, once, and stays on the new one.
    let moved = ask_with(&gw, Client::Responses, "m", "turn 6", false, &session).await;
    assert_eq!((moved.status, moved.attempts), (200, 2), "{}", moved.body);
    assert_ne!(moved.provider, first.provider);
    for i in 7..=9 {
        let a = ask_with(&gw, Client::Responses, "m", &format!("turn {i}"), false, &session).await;
        assert_eq!((a.provider.as_str(), a.attempts), (moved.provider.as_str(), 1), "turn {i} stays on the new one");
    }

    // Without a session header, the conversation's first turns are the key (Anthropic body).
    let cfg = config(
        "",
        &[("a", ""), ("b", ""), ("c", "")],
        "[[models]]\nname = \"m\"\nstrategy = \"weighted\"\ntargets = [\"a/x\", \"b/x\", \"c/x\"]\n",
    );
    let gw = Gateway::start(&cfg).await;
    let mut seen = std::collections::HashSet::new();
    for conv in 0..12 {
        let mut served = Vec::new();
        for _ in 0..4 {
            served.push(
                ask_with(&gw, Client::Anthropic, "m", &format!("conversation {conv}"), false, &[]).await.provider,
            );
        }
        assert!(served.iter().all(|p| *p == served[0]), "{served:?}");
        seen.insert(served[0].clone());
    }
    assert!(seen.len() >= 2, "different conversations spread out: {seen:?}");
}

#[tokio::test]
async fn a_thousand_requests_with_one_deployment_failing_half_the_time_see_no_errors() {
    let cfg = config(
        "cooldown_ms = 20",
        &[("a", ""), ("b", ""), ("flaky", "mock:fail-rate=0.5 mock:fail-status=503")],
        "[[models]]\nname = \"m\"\nstrategy = \"weighted\"\nsticky = false\ntargets = [\"a/x\", \"b/x\", \"flaky/x\"]\n",
    );
    let gw = Gateway::start(&cfg).await;
    let gw = &gw;
    let answers: Vec<(Client, bool, Answer)> = futures_util::stream::iter(0..1000)
        .map(|i| async move {
            let c = CLIENTS[i % 4];
            let stream = i % 2 == 0;
            (c, stream, ask_with(gw, c, "m", &format!("request {i}"), stream, &[]).await)
        })
        .buffer_unordered(32)
        .collect()
        .await;
    let mut retried = 0;
    let mut flaky = 0;
    for (c, stream, a) in &answers {
        assert_eq!(a.status, 200, "{c:?} stream={stream}: {}", a.body);
        assert!(a.text.starts_with("echo: request "), "{c:?} stream={stream}: {}", a.body);
        retried += usize::from(a.attempts > 1);
        flaky += usize::from(a.provider == "flaky");
    }
    assert!(retried > 10, "failures happened and were absorbed: {retried}");
    assert!(flaky > 10, "the flaky deployment still served its good half: {flaky}");
}

#[tokio::test]
async fn the_admin_api_shows_each_deployments_live_state() {
    let cfg = config(
        "failures_to_cooldown = 1\ncooldown_ms = 60000",
        &[("a", "mock:error=503"), ("b", "mock:error=429 mock:ratelimit-reset=30"), ("c", "")],
        "[[models]]\nname = \"m\"\nstrategy = \"priority\"\nsticky = false\ntargets = [\"a/x\", \"b/x\", \"c/x\"]\n",
    );
    let gw = Gateway::start_admin(&cfg, "adm").await;
    let a = ask(&gw, "m", "hi").await;
    assert_eq!((a.status, a.provider.as_str()), (200, "c"), "{}", a.body);

    let url = format!("{}/admin/deployments", gw.url);
    assert_eq!(client().get(&url).send().await.expect("send").status(), 401, "the admin key is required");
    let v: serde_json::Value =
        client().get(&url).bearer_auth("adm").send().await.expect("send").json().await.expect("json");
    let route = v["routes"].as_array().expect("routes").iter().find(|r| r["name"] == "m").expect("route m");
    assert_eq!(route["strategy"], "priority");
    let deps = route["deployments"].as_array().expect("deployments");
    let by = |p: &str| deps.iter().find(|d| d["provider"] == p).unwrap_or_else(|| panic!("{p} in {v}"));
    assert_eq!(by("a")["state"], "cooling", "{v}");
    assert!(by("a")["last_error"].as_str().is_some_and(|e| e.contains("503")), "{v}");
    assert_eq!(by("b")["state"], "parked", "{v}");
    assert!(by("b")["for_ms"].as_u64().is_some_and(|ms| (25_000..=30_000).contains(&ms)), "{v}");
    assert_eq!(by("c")["state"], "ready");
    assert!(by("c")["ttft_ms"].as_f64().is_some(), "{v}");
    assert_eq!(by("c")["serves_model"], true);
}

/// A provider of kind `openai-chat` on its own mock upstream (whose request log the test reads).
fn upstream(name: &str, mock: &str, x_mock: &str) -> String {
    format!("[[providers]]\nname = \"{name}\"\nkind = \"openai-chat\"\nbase_url = \"{mock}/v1\"\napi_key = \"sk-{name}\"\nheaders = {{ \"x-mock\" = \"{x_mock}\" }}\n\n")
}

fn availability(gw: &Gateway, model: &str, index: usize) -> Availability {
    let route = gw.state.routes().resolve(model).expect("route");
    route.deployments[index].state.health.availability(crossbar::routing::clock::now_ms())
}

/// Poll (every 50 ms, up to `secs`) until `ok`.
async fn until(secs: u64, mut ok: impl FnMut() -> bool) -> bool {
    for _ in 0..secs * 20 {
        if ok() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    ok()
}

/// Wait on the usage recorder's committed batches (up to 20 s) until the store holds `n` rows.
async fn until_rows(gw: &Gateway, n: i64) {
    let mut written = gw.state.usage.written();
    let enough = async {
        while usage_rows(gw).await < n {
            written.changed().await.expect("recorder alive");
        }
    };
    tokio::time::timeout(Duration::from_secs(20), enough).await.unwrap_or_else(|_| panic!("{n} usage rows"));
}

/// The user text of each chat request the mock received, oldest first.
fn chat_texts(log: &[serde_json::Value]) -> Vec<String> {
    log.iter().map(|r| r["body"]["messages"][0]["content"].as_str().unwrap_or_default().to_string()).collect()
}

#[tokio::test]
async fn health_checks_bring_a_cooling_deployment_back_without_a_client_request() {
    let flaky = crossbar_mock::spawn().await.expect("mock");
    // Two client requests fail and cool it (for a minute); the first health check fails too,
    // then the upstream has recovered.
    let cfg = format!(
        "[routing]\nbackoff_ms = 0\nfailures_to_cooldown = 2\ncooldown_ms = 60000\nhealth_check_secs = 1\n\n{}{}\
         [[models]]\nname = \"m\"\nsticky = false\ntargets = [\"a/x\", \"b/x\"]\n",
        upstream("a", &flaky.url(), "mock:fail-first=3 mock:fail-status=503"),
        deployment("b", ""),
    );
    let gw = Gateway::start(&cfg).await;
    for i in 1..=2 {
        let a = ask(&gw, "m", &format!("client {i}")).await;
        assert_eq!((a.status, a.provider.as_str(), a.attempts), (200, "b", 2), "{}", a.body);
    }
    assert!(matches!(availability(&gw, "m", 0), Availability::CoolingUntil(_)), "two failures cooled it");
    assert!(
        until(6, || availability(&gw, "m", 0) == Availability::Ready).await,
        "a health check brought it back: {:?}",
        availability(&gw, "m", 0)
    );
    let log = flaky.requests();
    let texts = chat_texts(&log);
    assert_eq!(&texts[..2], ["client 1", "client 2"], "{log:#?}");
    assert!(
        texts.len() >= 4 && texts[2..].iter().all(|t| t == "ping"),
        "then only health checks (one failed, one answered): {texts:?}"
    );
    let probe = &log[2];
    assert_eq!(probe["path"], "/v1/chat/completions");
    assert_eq!(probe["body"]["model"], "x");
    assert_eq!(probe["body"]["max_tokens"], 16, "{probe}");
    assert_ne!(probe["body"]["stream"], true, "not streamed: {probe}");
    // Back in service for the next client request, first in priority order.
    let a = ask(&gw, "m", "client 3").await;
    assert_eq!((a.status, a.provider.as_str(), a.attempts), (200, "a", 1), "{}", a.body);
    let metrics = gw.metrics().await;
    assert!(metrics.contains("crossbar_health_checks_total{provider=\"a\",outcome=\"down\"} 1"), "{metrics}");
    assert!(metrics.contains("crossbar_health_checks_total{provider=\"a\",outcome=\"up\"}"), "{metrics}");
}

#[tokio::test]
async fn health_checks_alone_cool_a_deployment_that_starts_failing() {
    let failing = crossbar_mock::spawn().await.expect("mock");
    let healthy = crossbar_mock::spawn().await.expect("mock");
    let cfg = format!(
        "[routing]\nbackoff_ms = 0\nfailures_to_cooldown = 2\ncooldown_ms = 60000\nhealth_check_secs = 1\n\n{}{}\
         [[models]]\nname = \"m\"\nsticky = false\ntargets = [\"a/x\", \"b/x\"]\n\n\
         [[models]]\nname = \"also-a\"\ntargets = [\"a/x\"]\n",
        upstream("a", &failing.url(), "mock:fail-after=1 mock:fail-status=500"),
        upstream("b", &healthy.url(), ""),
    );
    let gw = Gateway::start(&cfg).await;
    // `a/x` is now in three routes (two aliases and this one): still one check a round.
    let a = ask(&gw, "a/x", "client 1").await;
    assert_eq!((a.status, a.provider.as_str(), a.attempts), (200, "a", 1), "{}", a.body);
    // Every later request to `a` fails: two health checks cool it, with no client request.
    assert!(
        until(6, || matches!(availability(&gw, "m", 0), Availability::CoolingUntil(_))).await,
        "{:?}",
        availability(&gw, "m", 0)
    );
    assert_eq!(chat_texts(&failing.requests()), ["client 1", "ping", "ping"], "one check a round, deduplicated");
    let last_error =
        gw.state.routes().resolve("m").expect("route").deployments[0].state.last_error.lock().expect("lock").clone();
    assert_eq!(last_error.as_deref(), Some("health check: HTTP 500"));
    let a = ask(&gw, "m", "client 2").await;
    assert_eq!((a.status, a.provider.as_str(), a.attempts), (200, "b", 1), "straight to the other one: {}", a.body);
    let texts = chat_texts(&failing.requests());
    assert_eq!(texts[0], "client 1");
    assert!(texts.len() >= 3 && texts[1..].iter().all(|t| t == "ping"), "no client request after it cooled: {texts:?}");
    // The healthy one was checked too, and stays in service.
    assert!(chat_texts(&healthy.requests()).iter().any(|t| t == "ping"));
    assert_eq!(availability(&gw, "m", 1), Availability::Ready);
}

#[tokio::test]
async fn no_health_checks_unless_configured() {
    let up = crossbar_mock::spawn().await.expect("mock");
    let cfg = format!("{}[[models]]\nname = \"m\"\ntargets = [\"a/x\"]\n", upstream("a", &up.url(), ""));
    let gw = Gateway::start(&cfg).await;
    assert_eq!(ask(&gw, "a/y", "client").await.status, 200, "a provider/model route, resolved");
    // Not a wait for probes that should not come: the checker, given this gateway's state,
    // ends on its first poll (configured, it would wait for its first tick and loop).
    let (_stop, stop) = tokio::sync::watch::channel(false);
    let checker = crossbar::health_check::run(std::sync::Arc::downgrade(&gw.state), stop);
    assert!(futures_util::FutureExt::now_or_never(checker).is_some(), "no health-check loop unless configured");
    assert_eq!(chat_texts(&up.requests()), ["client"], "only the client's request went upstream");
    assert!(!gw.metrics().await.contains("crossbar_health_checks_total{"));
}

#[tokio::test]
async fn a_rate_limited_health_check_parks_and_a_refused_one_does_not_cool() {
    let limited = crossbar_mock::spawn().await.expect("mock");
    let refused = crossbar_mock::spawn().await.expect("mock");
    let cfg = format!(
        "[routing]\nfailures_to_cooldown = 1\nhealth_check_secs = 1\n\n{}{}\
         [[models]]\nname = \"m\"\ntargets = [\"limited/x\", \"refused/x\"]\n",
        upstream("limited", &limited.url(), "mock:error=429 mock:ratelimit-reset=30"),
        upstream("refused", &refused.url(), "mock:error=400"),
    );
    let gw = Gateway::start(&cfg).await;
    assert!(
        until(6, || matches!(availability(&gw, "m", 0), Availability::ParkedUntil(_))).await,
        "{:?}",
        availability(&gw, "m", 0)
    );
    // Another round: the parked one is left alone until its reset; the 400 never cools the other.
    assert!(until(6, || chat_texts(&refused.requests()).len() >= 2).await, "a second round");
    // A round starts once every probe of the one before has been answered: the third round's
    // probe proves the second is over (a probe of the parked one would be in its log by then).
    assert!(until(6, || chat_texts(&refused.requests()).len() >= 3).await, "a third round");
    assert_eq!(chat_texts(&limited.requests()), ["ping"]);
    assert_eq!(availability(&gw, "m", 1), Availability::Ready);
    let route = gw.state.routes().resolve("m").expect("route");
    let last_error = route.deployments[1].state.last_error.lock().expect("lock").clone().unwrap_or_default();
    assert!(last_error.starts_with("health check: HTTP 400"), "{last_error}");
}

#[tokio::test]
async fn health_checks_are_usage_records_with_their_tokens() {
    let up = crossbar_mock::spawn().await.expect("mock");
    let cfg = format!(
        "[routing]\nhealth_check_secs = 1\n\n[storage]\nusage_flush_ms = 50\n\n{}[[models]]\nname = \"m\"\ntargets = [\"a/x\"]\n\n[[catalog]]\nmodel = \"x\"\ninput_price = 1.0\noutput_price = 2.0\n",
        upstream("a", &up.url(), ""),
    );
    let gw = Gateway::start(&cfg).await;
    assert!(until(6, || chat_texts(&up.requests()).len() >= 2).await, "two rounds of health checks");
    // The probes are the only requests: wait for their two usage rows to be committed.
    until_rows(&gw, 2).await;
    let rows = gw.state.store.usage_report(crossbar::store::GroupBy::Model, 0, i64::MAX, None).await.expect("report");
    let row = rows.iter().find(|r| r.group == "a/x").unwrap_or_else(|| panic!("{rows:?}"));
    assert!(row.requests >= 2 && row.errors == 0, "{row:?}");
    assert!(
        row.input_tokens > 0 && row.output_tokens > 0 && row.cost_usd > 0.0,
        "the probes' tokens and cost: {row:?}"
    );
}
