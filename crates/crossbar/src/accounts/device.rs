//! Device-code logins an admin starts from the dashboard or `POST /admin/accounts/login`, with
//! no state kept on the server: starting one asks the issuer for a code and hands back a
//! ticket, the issuer's device login sealed with the accounts key (bound to its purpose), so
//! whichever instance a load balancer picks can carry on and the browser can neither read nor
//! forge it. Each check of a ticket polls the issuer once; when the user has entered the code,
//! the authorization code is exchanged and the account stored, and every instance pools it
//! within seconds (`watch.rs`). A ticket is good for the issuer's 15 minutes.
//! Must never: hand out the device login unsealed, or store anything when a step failed.

use super::db::AccountStore;
use super::login::{self, Options};
use super::Account;
use crate::config::{Config, ProviderKind};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use serde::{Deserialize, Serialize};

const PURPOSE: &[u8] = b"crossbar device login";

#[derive(Serialize, Deserialize)]
struct Ticket {
    device_auth_id: String,
    user_code: String,
    issuer: String,
    token_url: String,
    started_ms: u64,
}

/// What the admin is shown when a login starts.
#[derive(Debug, Serialize)]
pub struct Started {
    /// Opaque (URL-safe): hand it back to check on the login.
    pub ticket: String,
    pub user_code: String,
    pub verification_url: String,
    /// Seconds between checks (the issuer's pace).
    pub interval: u64,
    /// Unix ms when the code expires.
    pub expires_at: u64,
}

pub enum Progress {
    /// The user has not entered the code yet.
    Pending { user_code: String, verification_url: String },
    /// Signed in and stored.
    Done(Account),
}

/// The issuer and token endpoint of the config's first `chatgpt` provider; `None` without one.
pub fn options(config: &Config) -> Option<Options> {
    let p = config.providers.iter().find(|p| p.kind == ProviderKind::Chatgpt)?;
    Some(Options::new(p.issuer.as_deref().unwrap_or(login::DEFAULT_ISSUER), p.token_url.as_deref()))
}

pub async fn start(db: &AccountStore, opts: &Options) -> anyhow::Result<Started> {
    let device = login::request_code(&login::client()?, opts).await?;
    let started_ms = super::unix_ms();
    let interval = device.interval();
    let ticket = Ticket {
        device_auth_id: device.device_auth_id.clone(),
        user_code: device.user_code.clone(),
        issuer: opts.issuer.clone(),
        token_url: opts.token_url.clone(),
        started_ms,
    };
    Ok(Started {
        ticket: URL_SAFE_NO_PAD.encode(STANDARD.decode(db.sealer.seal(&serde_json::to_vec(&ticket)?, PURPOSE)?)?),
        user_code: device.user_code,
        verification_url: login::verification_url(opts),
        interval,
        expires_at: started_ms + login::MAX_WAIT.as_millis() as u64,
    })
}

/// Poll the issuer once for this ticket's login; store the account when it is signed in.
pub async fn check(db: &AccountStore, ticket: &str) -> anyhow::Result<Progress> {
    let t: Ticket = URL_SAFE_NO_PAD
        .decode(ticket.trim())
        .ok()
        .and_then(|raw| db.sealer.unseal(&STANDARD.encode(raw), PURPOSE))
        .and_then(|p| serde_json::from_slice(&p).ok())
        .ok_or_else(|| anyhow::anyhow!("not a login ticket of this gateway"))?;
    if super::unix_ms() > t.started_ms + login::MAX_WAIT.as_millis() as u64 {
        anyhow::bail!("the login code expired (15 minutes); start again");
    }
    let opts = Options { issuer: t.issuer, token_url: t.token_url, interval: None };
    let client = login::client()?;
    match login::poll_once(&client, &opts, &t.device_auth_id, &t.user_code).await? {
        None => Ok(Progress::Pending { user_code: t.user_code, verification_url: login::verification_url(&opts) }),
        Some(authorized) => Ok(Progress::Done(login::complete(&client, &opts, &authorized, db).await?)),
    }
}
