//! The ChatGPT login endpoints: device-code login, the code exchange and the refresh.
#![allow(clippy::unwrap_used)]
mod common;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use common::post_with;
use serde_json::{json, Value};

const USERCODE: &str = "/api/accounts/deviceauth/usercode";
const POLL: &str = "/api/accounts/deviceauth/token";

fn claims(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

/// A device login on `mock`, polled until it hands out its code: (code, verifier).
async fn authorized(mock: &crossbar_mock::Mock) -> (String, String) {
    let uc = post_with(mock.router(), USERCODE, &json!({"client_id": "c"}), &[]).await;
    let uc = uc.json();
    let poll = json!({"device_auth_id": uc["device_auth_id"], "user_code": uc["user_code"]});
    post_with(mock.router(), POLL, &poll, &[]).await;
    let v = post_with(mock.router(), POLL, &poll, &[]).await.json();
    (v["authorization_code"].as_str().unwrap().to_owned(), v["code_verifier"].as_str().unwrap().to_owned())
}

#[tokio::test]
async fn a_device_login_is_pending_once_then_hands_out_its_code() {
    let mock = crossbar_mock::Mock::new();
    let r = post_with(mock.router(), USERCODE, &json!({"client_id": "c"}), &[]).await;
    assert_eq!(r.status, 200);
    let uc = r.json();
    assert_eq!(uc["interval"], "1");
    let (id, code) = (uc["device_auth_id"].clone(), uc["user_code"].clone());
    assert!(id.as_str().is_some_and(|s| !s.is_empty()), "{uc}");
    assert!(code.as_str().is_some_and(|s| !s.is_empty()), "{uc}");
    let poll = json!({"device_auth_id": id, "user_code": code});

    let r = post_with(mock.router(), POLL, &poll, &[]).await;
    assert_eq!(r.status, 403);
    assert_eq!(r.json(), json!({"error": "authorization_pending"}));
    let r = post_with(mock.router(), POLL, &poll, &[]).await;
    assert_eq!(r.status, 200);
    let v = r.json();
    for field in ["authorization_code", "code_challenge", "code_verifier"] {
        assert!(v[field].as_str().is_some_and(|s| !s.is_empty()), "{v}");
    }
    // Handed out once: the login is over.
    let r = post_with(mock.router(), POLL, &poll, &[]).await;
    assert_eq!(r.status, 400);

    // A second login gets its own ids.
    let again = post_with(mock.router(), USERCODE, &json!({"client_id": "c"}), &[]).await;
    assert_ne!(again.json()["device_auth_id"], id);
}

#[tokio::test]
async fn unknown_device_logins_and_bad_requests_are_refused() {
    let mock = crossbar_mock::Mock::new();
    let r = post_with(mock.router(), USERCODE, &json!({}), &[]).await;
    assert_eq!((r.status.as_u16(), r.json()), (400, json!({"error": "invalid_request"})));
    let unknown = json!({"device_auth_id": "nope", "user_code": "X"});
    let r = post_with(mock.router(), POLL, &unknown, &[]).await;
    assert_eq!(r.status, 400, "not 404, which Codex reads as pending");
    assert_eq!(r.json(), json!({"error": "invalid_device_auth"}));
    // The right id with another user code is no better.
    let uc = post_with(mock.router(), USERCODE, &json!({"client_id": "c"}), &[]).await;
    let wrong = json!({"device_auth_id": uc.json()["device_auth_id"], "user_code": "WRONG"});
    let r = post_with(mock.router(), POLL, &wrong, &[]).await;
    assert_eq!(r.status, 400);
}

#[tokio::test]
async fn an_authorization_code_is_exchanged_once_with_its_verifier() {
    let server = crossbar_mock::spawn().await.unwrap();
    let (code, verifier) = authorized(&server.mock).await;
    let url = format!("{}/oauth/token", server.url());
    let exchange = |code: String, verifier: String| {
        let form = [
            ("grant_type", "authorization_code".to_owned()),
            ("code", code),
            ("redirect_uri", "http://x/deviceauth/callback".to_owned()),
            ("client_id", "c".to_owned()),
            ("code_verifier", verifier),
        ];
        reqwest::Client::new().post(&url).form(&form).send()
    };

    let r = exchange(code.clone(), format!("{verifier}x")).await.unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"error": "invalid_grant"}));

    let r = exchange(code.clone(), verifier.clone()).await.unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    let id = claims(v["id_token"].as_str().unwrap());
    let account = id["https://api.openai.com/auth"]["chatgpt_account_id"].as_str().unwrap();
    assert!(account.starts_with("mock-account-"), "{id}");
    assert!(id["email"].as_str().unwrap().ends_with("@example.com"), "{id}");
    let access = claims(v["access_token"].as_str().unwrap());
    let exp = access["exp"].as_u64().unwrap();
    assert!((now() + 3590..=now() + 3600).contains(&exp), "{access}");
    assert_eq!(access["https://api.openai.com/auth"]["chatgpt_account_id"], account);
    assert!(v["refresh_token"].as_str().is_some_and(|r| !r.is_empty()));

    // Used up.
    let r = exchange(code, verifier).await.unwrap();
    assert_eq!(r.status(), 400);
    // A code never issued, as JSON this time.
    let r = post_with(
        server.mock.router(),
        "/oauth/token",
        &json!({"grant_type": "authorization_code", "code": "mock-code-99", "code_verifier": "v"}),
        &[],
    )
    .await;
    assert_eq!((r.status.as_u16(), r.json()), (400, json!({"error": "invalid_grant"})));
}

#[tokio::test]
async fn a_json_code_exchange_works_and_refreshes_still_do() {
    let mock = crossbar_mock::Mock::new();
    let (code, verifier) = authorized(&mock).await;
    let body = json!({"grant_type": "authorization_code", "code": code, "code_verifier": verifier});
    let r = post_with(mock.router(), "/oauth/token", &body, &[]).await;
    assert_eq!(r.status, 200);
    let refresh = r.json()["refresh_token"].clone();

    let body = json!({"grant_type": "refresh_token", "refresh_token": refresh});
    let r = post_with(mock.router(), "/oauth/token", &body, &[]).await;
    assert_eq!(r.status, 200);
    let rotated = r.json()["refresh_token"].clone();
    assert!(rotated.as_str().is_some_and(|r| Some(r) != refresh.as_str()), "refresh tokens rotate");
    let body = json!({"grant_type": "refresh_token", "refresh_token": refresh});
    let r = post_with(mock.router(), "/oauth/token", &body, &[]).await;
    assert_eq!(
        (r.status.as_u16(), r.json()["error_description"].as_str()),
        (401, Some("refresh_token_reused")),
        "a used refresh token is refused"
    );
    let body = json!({"grant_type": "refresh_token", "refresh_token": rotated});
    assert_eq!(post_with(mock.router(), "/oauth/token", &body, &[]).await.status, 200);
    let body = json!({"grant_type": "refresh_token", "refresh_token": "revoked-1"});
    let r = post_with(mock.router(), "/oauth/token", &body, &[]).await;
    assert_eq!(r.status, 401);
}
