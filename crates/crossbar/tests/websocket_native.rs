//! The native upstream socket: a client's Responses socket routed to an OpenAI provider with
//! `websocket = true` gets its own upstream socket (the mock's WebSocket endpoint), with
//! incremental frames, replacement on the age limit or a forgotten anchor, and HTTP for the
//! turns a socket cannot carry.

mod common;
use common::ws::*;
use common::*;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

const MODEL: &str = "up-ws/gpt-x";

fn config(mock: &str, extra: &str) -> String {
    format!(
        r#"
[server]
max_body_mb = 40
{extra}

[[providers]]
name = "up-ws"
kind = "openai"
base_url = "{mock}/v1"
api_key = "sk-test-ws"
websocket = true

[[providers]]
name = "up-http"
kind = "openai"
base_url = "{mock}/v1"
api_key = "sk-test-http"

[[providers]]
name = "up-refused"
kind = "openai"
base_url = "{mock}/v1"
api_key = "sk-test-refused"
websocket = true
headers = {{ "x-mock-websocket" = "refuse" }}
"#
    )
}

async fn connect(gw: &Gateway) -> Ws {
    let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
        .max_message_size(Some(64 << 20))
        .max_frame_size(Some(64 << 20));
    let url = format!("ws://{}/v1/responses", gw.addr);
    let (ws, _) = tokio_tungstenite::connect_async_with_config(url, Some(config), false).await.expect("upgrade");
    ws
}

fn completed_id(events: &[Value]) -> String {
    let last = events.last().expect("events");
    assert_eq!(last["type"], "response.completed", "{events:#?}");
    last["response"]["id"].as_str().expect("id").to_owned()
}

/// What reached the mock: `(method, body)`; a socket frame is recorded as a `GET`.
async fn seen(mock: &str) -> Vec<(String, Value)> {
    mock_requests(mock)
        .await
        .into_iter()
        .filter(|r| r["path"].as_str().is_some_and(|p| p.ends_with("/responses")))
        .map(|r| (r["method"].as_str().unwrap_or_default().to_owned(), r["body"].clone()))
        .collect()
}

async fn traffic(mock: &str) -> Value {
    client().get(format!("{mock}/_mock/traffic")).send().await.expect("traffic").json().await.expect("json")
}

async fn clear(mock: &str) {
    client().delete(format!("{mock}/_mock/requests")).send().await.expect("clear");
}

/// Wait (on the gateway's own metric) until `crossbar_upstream_websockets` reads `n`.
async fn wait_upstream_sockets(gw: &Gateway, n: u64) {
    let want = format!("crossbar_upstream_websockets {n}\n");
    for _ in 0..400 {
        if gw.metrics().await.contains(&want) {
            return;
        }
        tokio::task::yield_now().await;
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("upstream sockets never reached {n}: {}", gw.metrics().await);
}

#[tokio::test]
async fn incremental_turns_reach_the_upstream_socket_incrementally_and_it_closes_with_the_client() {
    let mock = mock().await;
    let gw = Gateway::start(&config(&mock, "")).await;
    let mut ws = connect(&gw).await;
    let t1 = turn(&mut ws, create(MODEL, json!([user("first mock:tool")]), None)).await;
    let r1 = completed_id(&t1);
    let t2 = turn(&mut ws, create(MODEL, output(&call_id(&t1), "ok"), Some(&r1))).await;
    let r2 = completed_id(&t2);
    let t3 = turn(&mut ws, create(MODEL, json!([user("third")]), Some(&r2))).await;
    completed_id(&t3);
    let seen = seen(&mock).await;
    assert_eq!(seen.len(), 3, "{seen:#?}");
    assert!(seen.iter().all(|(m, _)| m == "GET"), "every turn went up the socket, none over HTTP: {seen:#?}");
    assert_eq!(seen[0].1["type"], "response.create");
    assert_eq!(seen[0].1["model"], "gpt-x", "the deployment's model");
    assert!(seen[0].1.get("previous_response_id").is_none());
    assert!(seen[0].1.get("stream").is_none(), "no HTTP-only fields: {}", seen[0].1);
    assert_eq!(seen[1].1["previous_response_id"], r1.as_str());
    assert_eq!(seen[1].1["input"], output(&call_id(&t1), "ok"), "only the new items");
    assert_eq!(seen[2].1["previous_response_id"], r2.as_str());
    assert_eq!(seen[2].1["input"], json!([user("third")]));
    let t = traffic(&mock).await;
    assert_eq!((t["websocket_opened"].as_u64(), t["http_bytes"].as_u64()), (Some(1), Some(0)), "{t}");
    // The upgrade carried the provider's key and asked for the Responses WebSocket mode.
    let frames = mock_requests(&mock).await;
    let headers = &frames[0]["headers"];
    assert_eq!(headers["openai-beta"], "responses_websockets=2026-02-06", "{headers}");
    assert!(headers["authorization"].is_string(), "the key was sent (recorded redacted): {headers}");
    assert!(headers.get("content-type").is_none(), "no HTTP body headers on an upgrade: {headers}");
    wait_upstream_sockets(&gw, 1).await;
    // The client leaves: the upstream socket gets a close frame.
    ws.close(None).await.expect("close");
    wait_upstream_sockets(&gw, 0).await;
    for _ in 0..400 {
        if traffic(&mock).await["websocket_close_frames"] == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(traffic(&mock).await["websocket_close_frames"], 1, "a close frame, not a dropped connection");
    assert_eq!(wait_rows(&gw, 3).await, 3, "one usage record per turn");
    for r in gw.state.store.recent_usage(10).await.expect("rows") {
        assert_eq!((r.status, r.protocol_out.as_deref()), (200, Some("openai-responses")), "{r:?}");
        assert!(r.output_tokens.is_some_and(|n| n > 0) && r.tokens_estimated == 0, "the upstream's usage: {r:?}");
    }
}

#[tokio::test]
async fn each_client_socket_has_its_own_upstream_socket() {
    let mock = mock().await;
    let gw = Gateway::start(&config(&mock, "")).await;
    let (mut a, mut b) = (connect(&gw).await, connect(&gw).await);
    let a1 = turn(&mut a, create(MODEL, json!([user("a mock:tool")]), None)).await;
    let b1 = turn(&mut b, create(MODEL, json!([user("b mock:tool")]), None)).await;
    let (ra, rb) = (completed_id(&a1), completed_id(&b1));
    // Interleaved: each continues from its own anchor on its own upstream socket.
    completed_id(&turn(&mut a, create(MODEL, output(&call_id(&a1), "ok"), Some(&ra))).await);
    completed_id(&turn(&mut b, create(MODEL, output(&call_id(&b1), "ok"), Some(&rb))).await);
    // B may not continue from A's response: the anchor is not its socket's.
    let e = turn(&mut b, create(MODEL, json!([user("x")]), Some(&ra))).await;
    assert_eq!(e[0]["error"]["code"], "previous_response_not_found", "{e:#?}");
    let t = traffic(&mock).await;
    assert_eq!((t["websocket_opened"].as_u64(), t["websocket_open"].as_u64()), (Some(2), Some(2)), "{t}");
    let seen = seen(&mock).await;
    assert_eq!(seen.iter().filter(|(_, b)| b.get("previous_response_id").is_some()).count(), 2, "{seen:#?}");
    wait_upstream_sockets(&gw, 2).await;
}

#[tokio::test]
async fn the_age_limit_and_a_forgotten_anchor_replace_the_socket_with_the_whole_input() {
    let mock = mock().await;
    let gw = Gateway::start(&config(&mock, "")).await;
    let mut ws = connect(&gw).await;
    let t1 = turn(&mut ws, create(MODEL, json!([user("first mock:tool")]), None)).await;
    let r1 = completed_id(&t1);
    // The upstream's hour is up: it answers websocket_connection_limit_reached and closes.
    client().post(format!("{mock}/_mock/websocket/advance?secs=3600")).send().await.expect("advance");
    clear(&mock).await;
    let t2 = turn(&mut ws, create(MODEL, output(&call_id(&t1), "ok"), Some(&r1))).await;
    let r2 = completed_id(&t2);
    let seen2 = seen(&mock).await;
    assert_eq!(seen2.len(), 2, "the refused incremental frame, then the whole input: {seen2:#?}");
    assert_eq!(seen2[1].1.get("previous_response_id"), None);
    assert_eq!(seen2[1].1["input"].as_array().map(Vec::len), Some(3), "user, call, output: {:#?}", seen2[1]);
    assert_eq!(traffic(&mock).await["websocket_opened"], 2);
    // The upstream forgets its responses (a restart): previous_response_not_found on the
    // incremental frame, then a new socket and the whole input. The client sees none of it.
    client().post(format!("{mock}/_mock/websocket/forget")).send().await.expect("forget");
    clear(&mock).await;
    let t3 = turn(&mut ws, create(MODEL, json!([user("third")]), Some(&r2))).await;
    completed_id(&t3);
    let seen3 = seen(&mock).await;
    assert_eq!(seen3.len(), 2, "{seen3:#?}");
    assert_eq!(seen3[0].1["previous_response_id"], r2.as_str());
    assert_eq!(seen3[1].1.get("previous_response_id"), None);
    assert_eq!(traffic(&mock).await["websocket_opened"], 3);
    assert_eq!(wait_rows(&gw, 3).await, 3, "one record per client turn, not per upstream frame");
    wait_upstream_sockets(&gw, 1).await;
}

#[tokio::test]
async fn an_unknown_anchor_is_previous_response_not_found_as_openai_words_it() {
    let mock = mock().await;
    let gw = Gateway::start(&config(&mock, "")).await;
    let mut ws = connect(&gw).await;
    let e = turn(&mut ws, create(MODEL, json!([user("hi")]), Some("resp_from_another_instance"))).await;
    assert_eq!(e.len(), 1, "{e:#?}");
    assert_eq!(e[0]["type"], "error");
    assert_eq!(e[0]["status"], 400);
    assert_eq!(e[0]["error"]["code"], "previous_response_not_found");
    assert_eq!(e[0]["error"]["param"], "previous_response_id");
    assert!(seen(&mock).await.is_empty(), "nothing went upstream");
    // The client retries with the whole input, as Codex does: it works.
    completed_id(&turn(&mut ws, create(MODEL, json!([user("hi")]), None)).await);
    // An error frame from the upstream socket reaches the client with its status and error
    // object as the upstream wrote them, and the socket goes on.
    let e = turn(&mut ws, create(MODEL, json!([user("bad mock:error=400")]), None)).await;
    let upstream = seen(&mock).await.into_iter().filter(|(m, _)| m == "GET").count();
    assert_eq!(upstream, 2, "the error came from the upstream socket");
    assert_eq!((e[0]["type"].as_str(), e[0]["status"].as_u64()), (Some("error"), Some(400)), "{e:#?}");
    assert_eq!(e[0]["error"]["type"], "invalid_request_error", "{e:#?}");
    completed_id(&turn(&mut ws, create(MODEL, json!([user("again")]), None)).await);
    assert_eq!(traffic(&mock).await["websocket_opened"], 1);
}

#[tokio::test]
async fn a_frame_of_16_mib_or_a_refused_upgrade_goes_over_http_for_that_turn() {
    let mock = mock().await;
    let gw = Gateway::start(&config(&mock, "")).await;
    let mut ws = connect(&gw).await;
    let big = "x".repeat(16 * 1024 * 1024);
    completed_id(&turn(&mut ws, create(MODEL, json!([user(&big)]), None)).await);
    completed_id(&turn(&mut ws, create(MODEL, json!([user("small")]), None)).await);
    let seen1 = seen(&mock).await;
    let methods: Vec<&str> = seen1.iter().map(|(m, _)| m.as_str()).collect();
    assert_eq!(methods, ["POST", "GET"], "the big turn over HTTP, the next one up the socket");
    // A provider whose upgrade is refused: HTTP, and the turn works.
    clear(&mock).await;
    let mut ws = connect(&gw).await;
    let t1 = turn(&mut ws, create("up-refused/gpt-x", json!([user("one mock:tool")]), None)).await;
    let r1 = completed_id(&t1);
    completed_id(&turn(&mut ws, create("up-refused/gpt-x", output(&call_id(&t1), "ok"), Some(&r1))).await);
    let seen2 = seen(&mock).await;
    assert!(seen2.iter().all(|(m, _)| m == "POST"), "{seen2:#?}");
    assert_eq!(seen2.len(), 2);
    // A provider without `websocket`: bridged over HTTP as before.
    clear(&mock).await;
    completed_id(&turn(&mut ws, create("up-http/gpt-x", json!([user("bridged")]), None)).await);
    assert_eq!(seen(&mock).await[0].0, "POST");
}

#[tokio::test]
async fn a_client_socket_dropped_mid_response_leaves_one_usage_record_and_no_upstream_socket() {
    let mock = mock().await;
    let gw = Gateway::start(&config(&mock, "")).await;
    let mut ws = connect(&gw).await;
    let frame = create(MODEL, json!([user("long mock:words=400 mock:slow=20")]), None);
    ws.send(Message::Text(frame.to_string().into())).await.expect("send");
    loop {
        if let Message::Text(t) = ws.next().await.expect("open").expect("frame") {
            if t.as_str().contains("response.output_text.delta") {
                break;
            }
        }
    }
    wait_upstream_sockets(&gw, 1).await;
    drop(ws);
    assert_eq!(wait_rows(&gw, 1).await, 1);
    let rows = gw.state.store.recent_usage(10).await.expect("rows");
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].error_class.as_deref(), Some("client_disconnect"), "{rows:?}");
    // The upstream socket was mid-response: closed, not kept.
    wait_upstream_sockets(&gw, 0).await;
}

#[test]
fn websocket_is_refused_on_kinds_without_a_websocket_mode() {
    for kind in ["anthropic", "gemini", "openai-chat", "openai-responses"] {
        let text = format!("[[providers]]\nname = \"p\"\nkind = \"{kind}\"\napi_key = \"k\"\nwebsocket = true\n");
        let e = crossbar::config::Config::parse(&text, "t.toml").expect_err(kind).to_string();
        assert!(e.contains("websocket"), "{kind}: {e}");
    }
    let c = crossbar::config::Config::parse(
        "[[providers]]\nname = \"c\"\nkind = \"chatgpt\"\n[[providers]]\nname = \"o\"\nkind = \"openai\"\napi_key = \"k\"\nwebsocket_max_age_secs = 60\n",
        "t.toml",
    )
    .expect("config");
    assert!(c.providers[0].websocket, "on by default for chatgpt");
    assert!(!c.providers[1].websocket, "off by default for openai");
    assert_eq!(c.providers[1].websocket_max_age, std::time::Duration::from_secs(60));
}

/// The deployment `provider/model` as `/admin/deployments` shows it.
fn deployment(gw: &Gateway, provider: &str) -> Value {
    let routes = crossbar::admin::deployments::routes_json(&gw.state);
    routes
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|r| r["deployments"].as_array().cloned().unwrap_or_default())
        .find(|d| d["provider"] == provider)
        .unwrap_or_else(|| panic!("no deployment of {provider}: {routes:#}"))
}

#[tokio::test]
async fn usage_windows_on_the_socket_reach_the_deployment_as_they_do_over_http() {
    let mock = mock().await;
    let extra = r#"
[[providers]]
name = "up-quota"
kind = "openai"
base_url = "MOCK/v1"
api_key = "sk-test-quota"
websocket = true
headers = { "x-mock" = "mock:headroom=5" }

[[providers]]
name = "up-spent"
kind = "openai"
base_url = "MOCK/v1"
api_key = "sk-test-spent"
websocket = true
headers = { "x-mock" = "mock:usage-limit mock:ratelimit-reset=600" }
"#
    .replace("MOCK", &mock);
    let gw = Gateway::start(&config(&mock, &extra)).await;
    let mut ws = connect(&gw).await;

    // The backend's windows come as a `codex.rate_limits` event ahead of the response: the
    // client gets it, and the deployment reads it as the `x-codex-*` headers HTTP carries.
    let events = turn(&mut ws, create("up-quota/gpt-x", json!([user("hi")]), None)).await;
    assert_eq!(events[0]["type"], "codex.rate_limits", "{events:#?}");
    assert_eq!(events[0]["rate_limits"]["primary"]["used_percent"], 95.0);
    completed_id(&events);
    let quota = deployment(&gw, "up-quota");
    let headroom = quota["headroom"].as_f64().unwrap_or_else(|| panic!("headroom read: {quota:#}"));
    assert!((headroom - 0.05).abs() < 1e-6, "{quota:#}");

    // A spent window answers with an error frame carrying the headers: the deployment is
    // parked until the window resets, as after an HTTP 429.
    let events = turn(&mut ws, create("up-spent/gpt-x", json!([user("hi")]), None)).await;
    let last = events.last().expect("events");
    assert!(last["type"] == "error" || last["type"] == "response.failed", "{events:#?}");
    let spent = deployment(&gw, "up-spent");
    assert_eq!(spent["state"], "parked", "{spent:#}");
    assert!(spent["for_ms"].as_u64().is_some_and(|ms| ms > 500_000), "{spent:#}");
    assert!(seen(&mock).await.iter().all(|(method, _)| method == "GET"), "both turns went over the socket");
}
