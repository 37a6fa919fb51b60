//! Responses over WebSocket: incremental turns bridged to every upstream kind, the errors a
//! socket answers with, its limits, and its usage records.

mod common;
use common::ws::*;
use common::*;
use crossbar::store::{KeyLimits, NewKey};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;

fn ws_url(gw: &Gateway, path: &str) -> String {
    format!("ws://{}{path}", gw.addr)
}

async fn connect(gw: &Gateway, path: &str, key: Option<&str>) -> Result<Ws, tokio_tungstenite::tungstenite::Error> {
    let mut req = ws_url(gw, path).into_client_request().expect("request");
    if let Some(k) = key {
        req.headers_mut().insert("authorization", format!("Bearer {k}").parse().expect("header"));
    }
    tokio_tungstenite::connect_async(req).await.map(|(ws, _)| ws)
}

/// The HTTP status an upgrade was refused with.
async fn refused_status(gw: &Gateway, path: &str, key: Option<&str>) -> u16 {
    match connect(gw, path, key).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => resp.status().as_u16(),
        Err(e) => panic!("not an HTTP refusal: {e}"),
        Ok(_) => panic!("the upgrade was accepted"),
    }
}

fn completed(events: &[Value]) -> &Value {
    let last = events.last().expect("events");
    assert_eq!(last["type"], "response.completed", "{events:#?}");
    &last["response"]
}

fn text(events: &[Value]) -> String {
    events
        .iter()
        .filter(|e| e["type"] == "response.output_text.delta")
        .map(|e| e["delta"].as_str().unwrap_or_default())
        .collect()
}

async fn posts(mock: &str) -> Vec<String> {
    mock_requests(mock).await.into_iter().filter(|r| r["method"] == "POST").map(|r| r["body"].to_string()).collect()
}

#[tokio::test]
async fn incremental_tool_turns_reach_every_upstream_kind_as_the_full_conversation() {
    let mock = mock().await;
    let gw = Gateway::start(&providers_at(&mock)).await;
    for kind in ["up-responses", "up-chat", "up-anthropic", "up-gemini"] {
        client().delete(format!("{mock}/_mock/requests")).send().await.expect("clear");
        let model = format!("{kind}/m");
        let mut ws = connect(&gw, "/v1/responses", None).await.expect("upgrade");
        // Turn 1: the whole (first) input; the model calls the tool.
        let t1 = turn(&mut ws, create(&model, json!([user("first-question mock:tool")]), None)).await;
        let r1 = completed(&t1)["id"].as_str().expect("id").to_owned();
        let c1 = call_id(&t1);
        // Turn 2: only the tool's output, anchored on turn 1.
        let t2 = turn(&mut ws, create(&model, output(&c1, "tool-out-one"), Some(&r1))).await;
        let r2 = completed(&t2)["id"].as_str().expect("id").to_owned();
        assert!(text(&t2).contains("tool-out-one"), "{kind}: {t2:#?}");
        // Turn 3: a new user message, anchored on turn 2; another call.
        let t3 = turn(&mut ws, create(&model, json!([user("second-question mock:tool")]), Some(&r2))).await;
        let r3 = completed(&t3)["id"].as_str().expect("id").to_owned();
        let c3 = call_id(&t3);
        let t4 = turn(&mut ws, create(&model, output(&c3, "tool-out-two"), Some(&r3))).await;
        assert!(text(&t4).contains("tool-out-two"), "{kind}: {t4:#?}");

        let bodies = posts(&mock).await;
        assert_eq!(bodies.len(), 4, "{kind}: one upstream request per response.create: {bodies:#?}");
        // Every request carried the whole conversation so far, in the upstream's own protocol.
        assert!(!bodies[0].contains("previous_response_id"), "{kind}: {}", bodies[0]);
        for (i, b) in bodies.iter().enumerate() {
            assert!(b.contains("first-question"), "{kind} request {i}: {b}");
            assert!(!b.contains(&r1), "{kind} request {i} names no response id: {b}");
        }
        for b in &bodies[1..] {
            assert!(b.contains(&c1) && b.contains("tool-out-one"), "{kind}: {b}");
        }
        for b in &bodies[2..] {
            assert!(b.contains("MOCK_FINAL") && b.contains("second-question"), "{kind}: {b}");
        }
        assert!(bodies[3].contains(&c3) && bodies[3].contains("tool-out-two"), "{kind}: {}", bodies[3]);
        ws.close(None).await.expect("close");
    }
    assert!(gw.metrics().await.contains("crossbar_websocket_responses_total 16"), "{}", gw.metrics().await);
}

#[tokio::test]
async fn the_codex_backend_path_and_a_prewarm_work_and_unknown_anchors_are_refused_verbatim() {
    let mock = mock().await;
    let gw = Gateway::start(&providers_at(&mock)).await;
    let mut ws = connect(&gw, "/backend-api/codex/responses", None).await.expect("upgrade");
    // A prewarm: no upstream request, a response id to continue from.
    let warm = turn(
        &mut ws,
        json!({"type": "response.create", "model": "up-anthropic/m", "generate": false,
                                     "input": [user("warm-context")], "tools": tools(), "store": false}),
    )
    .await;
    let w = completed(&warm)["id"].as_str().expect("id").to_owned();
    assert!(posts(&mock).await.is_empty(), "a prewarm generates nothing");
    let t = turn(&mut ws, create("up-anthropic/m", json!([user("Reply with exactly warmed")]), Some(&w))).await;
    assert_eq!(text(&t), "warmed");
    let bodies = posts(&mock).await;
    assert!(bodies.len() == 1 && bodies[0].contains("warm-context"), "{bodies:#?}");

    // An anchor this socket never issued (another socket's, or from before a restart).
    let e = turn(&mut ws, create("up-anthropic/m", output("call_x", "out"), Some("resp_unknown"))).await;
    assert_eq!(e.len(), 1, "{e:#?}");
    assert_eq!((e[0]["type"].as_str(), e[0]["status"].as_u64()), (Some("error"), Some(400)), "{e:#?}");
    assert_eq!(e[0]["error"]["code"], "previous_response_not_found");
    assert_eq!(e[0]["error"]["param"], "previous_response_id");
    // The socket is still usable: the client retries with its whole input.
    let again = turn(&mut ws, create("up-anthropic/m", json!([user("Reply with exactly full")]), None)).await;
    assert_eq!(text(&again), "full");
    // Another socket does not know this one's responses.
    let r = completed(&again)["id"].as_str().expect("id").to_owned();
    let mut other = connect(&gw, "/v1/responses", None).await.expect("upgrade");
    let e = turn(&mut other, create("up-anthropic/m", json!([user("x")]), Some(&r))).await;
    assert_eq!(e[0]["error"]["code"], "previous_response_not_found", "{e:#?}");
}

#[tokio::test]
async fn upstream_errors_are_wrapped_error_frames_and_the_socket_goes_on() {
    let mock = mock().await;
    let gw = Gateway::start(&providers_at(&mock)).await;
    let mut ws = connect(&gw, "/v1/responses", None).await.expect("upgrade");
    let e = turn(&mut ws, create("up-anthropic/m", json!([user("hi mock:error=400")]), None)).await;
    assert_eq!((e[0]["type"].as_str(), e[0]["status"].as_u64()), (Some("error"), Some(400)), "{e:#?}");
    assert!(e[0]["error"]["message"].is_string(), "{e:#?}");
    let e = turn(&mut ws, create("nobody/m", json!([user("hi")]), None)).await;
    assert_eq!(e[0]["type"], "error", "{e:#?}");
    assert_eq!(e[0]["status"], 404, "{e:#?}");
    let e = turn(&mut ws, json!({"type": "session.update"})).await;
    assert_eq!((e[0]["type"].as_str(), e[0]["status"].as_u64()), (Some("error"), Some(400)), "{e:#?}");
    ws.send(Message::Text("not json".into())).await.expect("send");
    let e = read_turn(&mut ws).await;
    assert_eq!(e[0]["status"], 400, "{e:#?}");
    let ok = turn(&mut ws, create("up-gemini/m", json!([user("Reply with exactly still-here")]), None)).await;
    assert_eq!(text(&ok), "still-here");
}

async fn make_key(gw: &Gateway, limits: KeyLimits) -> (String, String) {
    let g = crossbar::auth::key::generate();
    let new = NewKey { id: g.id.clone(), name: "ws".into(), secret_sha256: g.secret_sha256, limits, expires_at: None };
    gw.state.store.create_key(&new).await.expect("create key");
    (g.plaintext, g.id)
}

/// Wait until the recorder has written at least `n` rows (it flushes every 200 ms).
async fn wait_rows(gw: &Gateway, n: i64) -> i64 {
    for _ in 0..200 {
        let c = gw.state.store.usage_count().await.expect("count");
        if c >= n {
            return c;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    gw.state.store.usage_count().await.expect("count")
}

fn auth_config(mock: &str, server: &str) -> String {
    format!("[server]\n{server}\n[auth]\n{}", providers_at(mock))
}

#[tokio::test]
async fn keys_are_checked_and_every_response_is_one_usage_record() {
    let mock = mock().await;
    let gw = Gateway::start(&auth_config(&mock, "")).await;
    assert_eq!(refused_status(&gw, "/v1/responses", None).await, 401);
    assert_eq!(refused_status(&gw, "/v1/responses", Some("cb-000000000000-nope")).await, 401);
    let (k, id) = make_key(&gw, KeyLimits::default()).await;
    let mut ws = connect(&gw, "/v1/responses", Some(&k)).await.expect("upgrade");
    let warm =
        turn(&mut ws, json!({"type": "response.create", "model": "up-chat/m", "generate": false, "input": []})).await;
    let w = completed(&warm)["id"].as_str().expect("id").to_owned();
    let t1 = turn(&mut ws, create("up-chat/m", json!([user("one mock:tool")]), Some(&w))).await;
    let r1 = completed(&t1)["id"].as_str().expect("id").to_owned();
    let t2 = turn(&mut ws, create("up-chat/m", output(&call_id(&t1), "done"), Some(&r1))).await;
    completed(&t2);
    assert_eq!(wait_rows(&gw, 2).await, 2, "one record per generating response.create, none for the prewarm");
    let rows = gw.state.store.recent_usage(10).await.expect("rows");
    for r in &rows {
        assert_eq!(r.key_id.as_deref(), Some(id.as_str()), "{r:?}");
        assert_eq!(
            (r.protocol_in.as_str(), r.protocol_out.as_deref(), r.status),
            ("openai-responses", Some("openai-chat"), 200),
            "{r:?}"
        );
        assert!(r.output_tokens.is_some_and(|n| n > 0), "{r:?}");
    }
    // A key revoked while its socket is open stops working on the next turn.
    gw.state.store.revoke_key(&id).await.expect("revoke");
    gw.state.auth.as_ref().expect("auth").forget(&id);
    let e = turn(&mut ws, create("up-chat/m", json!([user("again")]), None)).await;
    assert_eq!((e[0]["type"].as_str(), e[0]["status"].as_u64()), (Some("error"), Some(401)), "{e:#?}");
}

#[tokio::test]
async fn a_socket_closed_mid_response_drops_it_records_it_once_and_frees_the_limit() {
    let mock = mock().await;
    let gw = Gateway::start(&auth_config(&mock, "")).await;
    let (k, _) = make_key(&gw, KeyLimits { max_parallel: Some(1), ..KeyLimits::default() }).await;
    let mut ws = connect(&gw, "/v1/responses", Some(&k)).await.expect("upgrade");
    let frame = create("up-anthropic/m", json!([user("long mock:words=400 mock:slow=20")]), None);
    ws.send(Message::Text(frame.to_string().into())).await.expect("send");
    loop {
        let msg = ws.next().await.expect("open").expect("frame");
        if let Message::Text(t) = msg {
            if t.as_str().contains("response.output_text.delta") {
                break;
            }
        }
    }
    drop(ws);
    assert_eq!(wait_rows(&gw, 1).await, 1);
    let rows = gw.state.store.recent_usage(10).await.expect("rows");
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].error_class.as_deref(), Some("client_disconnect"), "{rows:?}");
    // The parallel slot came back: the next request (HTTP) is admitted.
    let (path, body) = request(Client::Responses, "up-anthropic/m", "hi", false);
    let r = client().post(format!("{}{path}", gw.url)).bearer_auth(&k).json(&body).send().await.expect("send");
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
    // The upstream stream was dropped, not read to its end.
    assert!(gw.metrics().await.contains("crossbar_inflight_streams 0"), "{}", gw.metrics().await);
}

#[tokio::test]
async fn turned_off_the_upgrade_is_426_and_the_codex_catalog_stops_preferring_websockets() {
    let mock = mock().await;
    let on = Gateway::start(&providers_at(&mock)).await;
    let off = Gateway::start(&format!("[server]\nwebsocket = false\n{}", providers_at(&mock))).await;
    for path in ["/v1/responses", "/backend-api/codex/responses", "/responses"] {
        assert_eq!(refused_status(&off, path, None).await, 426, "{path}");
    }
    // HTTP is untouched.
    let (path, body) = request(Client::Responses, "up-gemini/m", "hi", true);
    let r = client().post(format!("{}{path}", off.url)).json(&body).send().await.expect("send");
    assert_eq!(r.status(), 200);
    for (gw, want) in [(&on, true), (&off, false)] {
        let v: Value = client()
            .get(format!("{}/v1/models?client_version=0.169.0", gw.url))
            .send()
            .await
            .expect("catalog")
            .json()
            .await
            .expect("json");
        let models = v["models"].as_array().expect("models");
        assert!(!models.is_empty());
        assert!(models.iter().all(|m| m["prefer_websockets"] == want), "{v}");
    }
}

#[tokio::test]
async fn limits_close_sockets_cleanly_with_a_reason() {
    let mock = mock().await;
    let gw = Gateway::start(&auth_config(&mock, "websocket_idle_secs = 1\nwebsocket_max_per_key = 1")).await;
    let (k, _) = make_key(&gw, KeyLimits::default()).await;
    let (k2, _) = make_key(&gw, KeyLimits::default()).await;
    let mut first = connect(&gw, "/v1/responses", Some(&k)).await.expect("upgrade");
    completed(&turn(&mut first, create("up-chat/m", json!([user("hi")]), None)).await);
    // A second socket for the same key is closed with a policy reason; another key's is not.
    let mut second = connect(&gw, "/v1/responses", Some(&k)).await.expect("upgrade");
    let close = closed(&mut second).await;
    assert_eq!(close.0, CloseCode::Policy, "{close:?}");
    assert!(close.1.contains("websocket_max_per_key"), "{close:?}");
    let mut other = connect(&gw, "/v1/responses", Some(&k2)).await.expect("upgrade");
    completed(&turn(&mut other, create("up-chat/m", json!([user("hi")]), None)).await);
    // An idle socket is closed after websocket_idle_secs, after its turn.
    let close = closed(&mut first).await;
    assert_eq!(close.0, CloseCode::Normal, "{close:?}");
    assert!(close.1.contains("idle"), "{close:?}");
    // Its place is free again.
    let mut third = connect(&gw, "/v1/responses", Some(&k)).await.expect("upgrade");
    completed(&turn(&mut third, create("up-chat/m", json!([user("hi")]), None)).await);
    // A socket that never sends a response.create is closed (within 30 s, here the idle limit).
    let (k3, _) = make_key(&gw, KeyLimits::default()).await;
    let mut silent = connect(&gw, "/v1/responses", Some(&k3)).await.expect("upgrade");
    let close = closed(&mut silent).await;
    assert_eq!(close.0, CloseCode::Normal, "{close:?}");
    assert!(close.1.contains("of connecting"), "{close:?}");
}

/// Wait for the server's close frame: its code and reason.
async fn closed(ws: &mut Ws) -> (CloseCode, String) {
    loop {
        let msg = tokio::time::timeout(std::time::Duration::from_secs(40), ws.next())
            .await
            .expect("closed in time")
            .expect("a close frame before the end")
            .expect("frame");
        if let Message::Close(Some(f)) = msg {
            return (f.code, f.reason.to_string());
        }
    }
}

/// The mock upstream's own socket (`crossbar-mock`'s websocket.rs), spoken to directly.
#[tokio::test]
async fn the_mock_upstream_answers_responses_over_websocket() {
    let server = crossbar_mock::spawn().await.expect("mock");
    let connect = |path: &'static str, directives: Option<&'static str>| {
        let mut req = format!("ws://{}{path}", server.addr).into_client_request().expect("request");
        if let Some(d) = directives {
            req.headers_mut().insert("x-mock", d.parse().expect("header"));
        }
        async move { tokio_tungstenite::connect_async(req).await.expect("upgrade").0 }
    };
    let mut ws = connect("/v1/responses", None).await;
    let warm =
        turn(&mut ws, json!({"type": "response.create", "model": "m", "generate": false, "input": [user("ctx-one")]}))
            .await;
    let w = completed(&warm)["id"].as_str().expect("id").to_owned();
    let t1 = turn(&mut ws, create("m", json!([user("go mock:tool")]), Some(&w))).await;
    assert_eq!(t1[0]["type"], "response.created", "{t1:#?}");
    let seqs: Vec<u64> = t1.iter().filter_map(|e| e["sequence_number"].as_u64()).collect();
    assert_eq!(seqs, (0..t1.len() as u64).collect::<Vec<_>>(), "one event per frame, in order");
    let r1 = completed(&t1)["id"].as_str().expect("id").to_owned();
    let t2 = turn(&mut ws, create("m", output(&call_id(&t1), "mock-out"), Some(&r1))).await;
    assert!(text(&t2).contains("MOCK_FINAL: the tool said: mock-out"), "{t2:#?}");
    // Each frame is recorded as sent (GET, the frame as the body).
    let log = server.requests();
    assert_eq!(log.len(), 3, "{log:#?}");
    assert!(log.iter().all(|r| r["method"] == "GET" && r["path"] == "/v1/responses"), "{log:#?}");
    assert_eq!(log[2]["body"]["previous_response_id"], r1.as_str());
    let e = turn(&mut ws, create("m", json!([user("x")]), Some("resp_nope"))).await;
    assert_eq!(
        (e[0]["status"].as_u64(), e[0]["error"]["code"].as_str()),
        (Some(400), Some("previous_response_not_found"))
    );
    let e = turn(&mut ws, create("m", json!([user("x mock:error=429")]), None)).await;
    assert_eq!((e[0]["type"].as_str(), e[0]["status"].as_u64()), (Some("error"), Some(429)), "{e:#?}");
    assert_eq!(e[0]["error"]["code"], "rate_limit_exceeded", "{e:#?}");
    let e = turn(&mut ws, create("m", json!([user("x mock:midstream-error")]), None)).await;
    assert_eq!(e.last().expect("event")["type"], "response.failed", "{e:#?}");
    // The Codex backend path keeps the backend's rules, and `mock:drop` cuts the socket.
    let mut backend = connect("/backend-api/codex/responses", Some("mock:drop")).await;
    let e = turn(&mut backend, json!({"type": "response.create", "model": "m", "input": "hi", "store": true})).await;
    assert_eq!((e[0]["type"].as_str(), e[0]["status"].as_u64()), (Some("error"), Some(400)), "{e:#?}");
    backend.send(Message::Text(create("m", json!([user("hi")]), None).to_string().into())).await.expect("send");
    let mut cut = false;
    while let Some(msg) = backend.next().await {
        match msg {
            Ok(Message::Text(t)) => assert!(!t.as_str().contains("response.completed"), "{t}"),
            Ok(Message::Close(_)) => panic!("a cut, not a close"),
            Ok(_) => {}
            Err(_) => {
                cut = true;
                break;
            }
        }
    }
    assert!(cut || backend.next().await.is_none(), "the socket ended without a close frame");
}

#[tokio::test]
async fn messages_over_the_body_limit_are_refused_and_far_larger_ones_close_the_socket() {
    let mock = mock().await;
    let gw = Gateway::start(&format!("[server]\nmax_body_mb = 1\n{}", providers_at(&mock))).await;
    let mut ws = connect(&gw, "/v1/responses", None).await.expect("upgrade");
    let big = "x".repeat(1024 * 1024 + 10);
    let e = turn(&mut ws, create("up-chat/m", json!([user(&big)]), None)).await;
    assert_eq!((e[0]["type"].as_str(), e[0]["status"].as_u64()), (Some("error"), Some(413)), "{e:#?}");
    assert!(posts(&mock).await.is_empty());
    let ok = turn(&mut ws, create("up-chat/m", json!([user("Reply with exactly small")]), None)).await;
    assert_eq!(text(&ok), "small");
    // Beyond twice the limit the message is not even read: the socket closes (1009).
    let huge = "x".repeat(3 * 1024 * 1024);
    let _ = ws.send(Message::Text(create("up-chat/m", json!([user(&huge)]), None).to_string().into())).await;
    let close = closed(&mut ws).await;
    assert_eq!(close.0, CloseCode::Size, "{close:?}");
}

#[tokio::test]
async fn a_graceful_shutdown_finishes_the_response_in_flight_and_closes_every_socket() {
    let mock = mock().await;
    let mut gw = Gateway::start(&providers_at(&mock)).await;
    let mut idle = connect(&gw, "/v1/responses", None).await.expect("upgrade");
    completed(&turn(&mut idle, create("up-chat/m", json!([user("hi")]), None)).await);
    let mut busy = connect(&gw, "/v1/responses", None).await.expect("upgrade");
    let frame = create("up-anthropic/m", json!([user("long mock:words=30 mock:slow=20")]), None);
    busy.send(Message::Text(frame.to_string().into())).await.expect("send");
    let mut events = Vec::new();
    while !events.iter().any(|e: &Value| e["type"] == "response.output_text.delta") {
        let Some(Ok(Message::Text(t))) = busy.next().await else { panic!("socket ended early") };
        events.push(serde_json::from_str(t.as_str()).expect("json"));
    }
    gw.shutdown();
    assert_eq!(closed(&mut idle).await.0, CloseCode::Away);
    // The busy socket's response runs to its end, then the socket closes too.
    events.extend(read_turn(&mut busy).await);
    assert_eq!(text(&events).split_whitespace().count(), 30, "{events:#?}");
    completed(&events);
    assert_eq!(closed(&mut busy).await.0, CloseCode::Away);
    (&mut gw.handle).await.expect("join").expect("server");
    assert_eq!(gw.state.store.usage_count().await.expect("count"), 2, "both responses recorded by the drain");
}

#[tokio::test]
async fn each_response_fails_over_before_its_first_event() {
    let mock = mock().await;
    let config = format!(
        r#"{}
[[providers]]
name = "down"
kind = "anthropic"
base_url = "{mock}"
api_key = "k"
headers = {{ "x-mock" = "mock:fail-rate=1 mock:fail-status=503" }}

[[models]]
name = "both"
targets = ["down/m", "up-gemini/m"]
"#,
        providers_at(&mock)
    );
    let gw = Gateway::start(&config).await;
    let mut ws = connect(&gw, "/v1/responses", None).await.expect("upgrade");
    let t1 = turn(&mut ws, create("both", json!([user("one mock:tool")]), None)).await;
    let r1 = completed(&t1)["id"].as_str().expect("id").to_owned();
    let t2 = turn(&mut ws, create("both", output(&call_id(&t1), "out-one"), Some(&r1))).await;
    assert!(text(&t2).contains("out-one"), "{t2:#?}");
    assert!(t1.iter().chain(&t2).all(|e| e["type"] != "error"), "the failures never reached the socket");
    let paths: Vec<String> =
        mock_requests(&mock).await.iter().map(|r| r["path"].as_str().unwrap_or_default().to_owned()).collect();
    assert!(paths.iter().filter(|p| p.as_str() == "/v1/messages").count() >= 2, "{paths:?}");
    assert_eq!(paths.iter().filter(|p| p.contains(":streamGenerateContent")).count(), 2, "{paths:?}");
}

#[tokio::test]
async fn a_silent_upstream_keeps_the_socket_alive_with_pings() {
    let mock = mock().await;
    let gw = Gateway::start(&format!("[server]\nkeepalive_secs = 1\n{}", providers_at(&mock))).await;
    let mut ws = connect(&gw, "/v1/responses", None).await.expect("upgrade");
    let frame = create("up-anthropic/m", json!([user("wait mock:stall-mid=2500")]), None);
    ws.send(Message::Text(frame.to_string().into())).await.expect("send");
    let (mut pings, mut done) = (0, false);
    while !done {
        match ws.next().await.expect("open").expect("frame") {
            Message::Ping(_) => pings += 1,
            Message::Text(t) => done = t.as_str().contains("\"response.completed\""),
            _ => {}
        }
    }
    assert!(pings >= 1, "the 2.5 s silence carried a ping");
}

#[tokio::test]
async fn key_limits_refuse_a_turn_with_the_http_status_and_headers_and_the_socket_goes_on() {
    let mock = mock().await;
    let gw = Gateway::start(&auth_config(&mock, "")).await;
    let limits = KeyLimits { rpm: Some(1), models: Some(vec!["up-chat/m".into()]), ..KeyLimits::default() };
    let (k, _) = make_key(&gw, limits).await;
    let mut ws = connect(&gw, "/v1/responses", Some(&k)).await.expect("upgrade");
    let e = turn(&mut ws, create("up-gemini/m", json!([user("hi")]), None)).await;
    assert_eq!((e[0]["type"].as_str(), e[0]["status"].as_u64()), (Some("error"), Some(403)), "{e:#?}");
    completed(&turn(&mut ws, create("up-chat/m", json!([user("hi")]), None)).await);
    let e = turn(&mut ws, create("up-chat/m", json!([user("again")]), None)).await;
    assert_eq!((e[0]["type"].as_str(), e[0]["status"].as_u64()), (Some("error"), Some(429)), "{e:#?}");
    assert!(e[0]["headers"]["retry-after"].is_string(), "{e:#?}");
    assert!(e[0]["headers"]["x-ratelimit-limit-requests"].is_string(), "{e:#?}");
}
