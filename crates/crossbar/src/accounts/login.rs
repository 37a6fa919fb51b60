//! `crossbar accounts login`: the ChatGPT device-code login, as Codex CLI's
//! `codex login --device-auth` runs it. Asks the issuer for a user code, tells the user where to
//! enter it, polls until they have (403/404 = pending, 15 minutes at most), exchanges the
//! authorization code and its PKCE verifier (both handed out by the issuer) at the token
//! endpoint, and stores the account as `import` does (sealed, replacing one with the same id).
//! The steps are public for logins an admin starts from the dashboard or the API (`device.rs`).
//! Must never: print or log a token, or store anything when a step failed.

use super::db::AccountStore;
use super::{token, Account};
use anyhow::{bail, Context};
use serde::Deserialize;
use std::io::Write;
use std::time::{Duration, Instant};

pub const DEFAULT_ISSUER: &str = "https://auth.openai.com";
/// How long the user has to enter the code (the issuer's own expiry).
pub const MAX_WAIT: Duration = Duration::from_secs(15 * 60);
/// When the issuer names no interval.
const DEFAULT_INTERVAL: u64 = 5;

pub struct Options {
    /// `https://auth.openai.com`, no trailing slash.
    pub issuer: String,
    /// The OAuth token endpoint (`{issuer}/oauth/token` by default).
    pub token_url: String,
    /// Poll this often instead of the issuer's `interval` (tests).
    pub interval: Option<Duration>,
}

impl Options {
    pub fn new(issuer: &str, token_url: Option<&str>) -> Options {
        let issuer = issuer.trim_end_matches('/').to_string();
        let token_url = token_url.map_or_else(|| format!("{issuer}/oauth/token"), str::to_string);
        Options { issuer, token_url, interval: None }
    }
}

/// What the issuer hands out first: the code the user enters, and what to poll with.
#[derive(Deserialize)]
pub struct DeviceCode {
    pub device_auth_id: String,
    pub user_code: String,
    #[serde(default)]
    interval: Option<Interval>,
}

impl DeviceCode {
    /// Seconds between polls: the issuer's, else `DEFAULT_INTERVAL`.
    pub fn interval(&self) -> u64 {
        self.interval.as_ref().and_then(Interval::seconds).unwrap_or(DEFAULT_INTERVAL).max(1)
    }
}

/// Seconds, as a string (what auth.openai.com sends) or a number.
#[derive(Deserialize)]
#[serde(untagged)]
enum Interval {
    Number(u64),
    Text(String),
}

impl Interval {
    fn seconds(&self) -> Option<u64> {
        match self {
            Interval::Number(n) => Some(*n),
            Interval::Text(s) => s.trim().parse().ok(),
        }
    }
}

/// The poll's success: an authorization code and the PKCE verifier it was issued for.
#[derive(Deserialize)]
pub struct Authorized {
    authorization_code: String,
    code_verifier: String,
}

#[derive(Deserialize)]
struct Tokens {
    #[serde(default)]
    id_token: Option<String>,
    access_token: String,
    refresh_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
}

/// The whole login: the prompt goes to `out`, the account into the store.
pub async fn login(db: &AccountStore, opts: &Options, out: &mut impl Write) -> anyhow::Result<Account> {
    let client = client()?;
    let device = request_code(&client, opts).await?;
    write!(out, "{}", prompt(opts, &device.user_code)).and_then(|()| out.flush()).context("cannot write the prompt")?;
    let authorized = poll(&client, opts, &device).await?;
    complete(&client, opts, &authorized, db).await
}

pub fn client() -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder().timeout(Duration::from_secs(30)).build().context("cannot build the HTTP client")
}

/// Where the user enters the code.
pub fn verification_url(opts: &Options) -> String {
    format!("{}/codex/device", opts.issuer)
}

fn prompt(opts: &Options, user_code: &str) -> String {
    format!(
        "To sign in with ChatGPT, open {} in a browser, sign in, and enter this code (it expires in 15 minutes):\n\n    {user_code}\n\nNever share this code. Waiting for the sign-in…\n",
        verification_url(opts)
    )
}

/// Exchange the authorization code and store the account (replacing one with the same id).
pub async fn complete(
    client: &reqwest::Client,
    opts: &Options,
    authorized: &Authorized,
    db: &AccountStore,
) -> anyhow::Result<Account> {
    let tokens = exchange(client, opts, authorized).await?;
    db.add(account_of(tokens)?).await
}

pub async fn request_code(client: &reqwest::Client, opts: &Options) -> anyhow::Result<DeviceCode> {
    let url = format!("{}/api/accounts/deviceauth/usercode", opts.issuer);
    let resp = client
        .post(&url)
        .json(&serde_json::json!({"client_id": token::CODEX_CLIENT_ID}))
        .send()
        .await
        .map_err(reqwest::Error::without_url)
        .with_context(|| format!("cannot reach {url}"))?;
    match resp.status().as_u16() {
        200..=299 => resp.json().await.with_context(|| format!("{url} did not answer with a device code")),
        404 => bail!("device-code login is not enabled on {} (HTTP 404 from {url}); check --issuer, or import a Codex auth.json instead", opts.issuer),
        status => bail!("{url} refused the device-code request (HTTP {status}{})", error_code(resp).await),
    }
}

/// Until the user has entered the code.
async fn poll(client: &reqwest::Client, opts: &Options, device: &DeviceCode) -> anyhow::Result<Authorized> {
    let every = opts.interval.unwrap_or_else(|| Duration::from_secs(device.interval()));
    let start = Instant::now();
    loop {
        if let Some(a) = poll_once(client, opts, &device.device_auth_id, &device.user_code).await? {
            return Ok(a);
        }
        let left = MAX_WAIT.saturating_sub(start.elapsed());
        if left.is_zero() {
            bail!("device-code login timed out: the code was not entered within 15 minutes");
        }
        tokio::time::sleep(every.min(left)).await;
    }
}

/// One poll: the authorization code once the user has entered theirs (403 and 404 mean "not yet").
pub async fn poll_once(
    client: &reqwest::Client,
    opts: &Options,
    device_auth_id: &str,
    user_code: &str,
) -> anyhow::Result<Option<Authorized>> {
    let url = format!("{}/api/accounts/deviceauth/token", opts.issuer);
    let body = serde_json::json!({"device_auth_id": device_auth_id, "user_code": user_code});
    let resp = client
        .post(&url)
        .json(&body)
        .send()
        .await
        .map_err(reqwest::Error::without_url)
        .with_context(|| format!("cannot reach {url}"))?;
    match resp.status().as_u16() {
        200..=299 => {
            resp.json().await.map(Some).with_context(|| format!("{url} did not answer with an authorization code"))
        }
        403 | 404 => Ok(None),
        status => bail!("device-code login failed: {url} answered HTTP {status}{}", error_code(resp).await),
    }
}

async fn exchange(client: &reqwest::Client, opts: &Options, authorized: &Authorized) -> anyhow::Result<Tokens> {
    let redirect_uri = format!("{}/deviceauth/callback", opts.issuer);
    let form = [
        ("grant_type", "authorization_code"),
        ("code", authorized.authorization_code.as_str()),
        ("redirect_uri", redirect_uri.as_str()),
        ("client_id", token::CODEX_CLIENT_ID),
        ("code_verifier", authorized.code_verifier.as_str()),
    ];
    let url = &opts.token_url;
    let resp = client
        .post(url)
        .form(&form)
        .send()
        .await
        .map_err(reqwest::Error::without_url)
        .with_context(|| format!("cannot reach the token endpoint {url}"))?;
    match resp.status().as_u16() {
        200..=299 => resp.json().await.with_context(|| format!("the token endpoint {url} did not answer with tokens")),
        status => {
            bail!("the token endpoint {url} refused the authorization code (HTTP {status}{})", error_code(resp).await)
        }
    }
}

/// The account the tokens belong to: its id and email from the id token (else the access token).
fn account_of(t: Tokens) -> anyhow::Result<Account> {
    let claims: Vec<serde_json::Value> = [t.id_token.as_deref(), Some(t.access_token.as_str())]
        .into_iter()
        .flatten()
        .filter_map(token::jwt_claims)
        .collect();
    let id = claims
        .iter()
        .find_map(token::chatgpt_account_id)
        .context("the tokens name no ChatGPT account (no chatgpt_account_id claim)")?;
    let email = claims.iter().find_map(|c| c.get("email")?.as_str().map(str::to_string));
    let now = crate::pipeline::unix_now();
    Ok(Account {
        expires_at: token::jwt_expiry(&t.access_token).or(t.expires_in.map(|s| now + s)),
        id,
        email,
        access_token: t.access_token,
        refresh_token: t.refresh_token,
        id_token: t.id_token,
        last_refresh: Some(now),
        ..Account::default()
    })
}

/// `: invalid_grant` when an error answer names its OAuth error code (never the whole body).
async fn error_code(resp: reqwest::Response) -> String {
    let code = resp.json::<serde_json::Value>().await.ok().and_then(|v| v.get("error")?.as_str().map(str::to_string));
    code.filter(|c| c.len() <= 64).map(|c| format!(": {c}")).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_interval_is_a_string_or_a_number() {
        let parse =
            |s: &str| serde_json::from_str::<DeviceCode>(s).expect("a device code").interval.and_then(|i| i.seconds());
        assert_eq!(parse(r#"{"device_auth_id":"d","user_code":"u","interval":"5"}"#), Some(5));
        assert_eq!(parse(r#"{"device_auth_id":"d","user_code":"u","interval":" 7 "}"#), Some(7));
        assert_eq!(parse(r#"{"device_auth_id":"d","user_code":"u","interval":3}"#), Some(3));
        assert_eq!(parse(r#"{"device_auth_id":"d","user_code":"u","interval":"soon"}"#), None);
        assert_eq!(parse(r#"{"device_auth_id":"d","user_code":"u"}"#), None);
    }

    #[test]
    fn the_token_url_defaults_to_the_issuers() {
        let o = Options::new("https://auth.example/", None);
        assert_eq!(
            (o.issuer.as_str(), o.token_url.as_str()),
            ("https://auth.example", "https://auth.example/oauth/token")
        );
        assert_eq!(Options::new("http://a", Some("http://b/t")).token_url, "http://b/t");
    }
}
