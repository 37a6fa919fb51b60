//! `crossbar keys …` and `crossbar usage`: the admin operations from the terminal, on the
//! configured store directly (no running gateway needed).

use crate::cli::{KeysCommand, LimitArgs};
use crate::config::{self, Config};
use crate::limits::period::{format, parse_date};
use crate::store::{GroupBy, KeyPatch, KeyRecord, Period, Store};
use anyhow::{anyhow, bail, Context};
use std::path::PathBuf;

async fn open(path: Option<PathBuf>) -> anyhow::Result<Store> {
    let config = match path {
        Some(p) => Config::load(&p).map_err(|e| anyhow!("{e}"))?,
        None => config::defaults::embedded(),
    };
    let store = crate::app::open_store(&config)?;
    store.ready().await.with_context(|| store.label.clone())?;
    Ok(store)
}

/// `Some(None)` for `none`, `Some(Some(v))` for a value.
fn opt<T: std::str::FromStr>(name: &str, v: &Option<String>) -> anyhow::Result<Option<Option<T>>> {
    match v.as_deref().map(str::trim) {
        None => Ok(None),
        Some("none") => Ok(Some(None)),
        Some(s) => s.parse().map(|v| Some(Some(v))).map_err(|_| anyhow!("--{name}: {s:?} is not a valid value")),
    }
}

fn patch_of(name: Option<String>, a: &LimitArgs) -> anyhow::Result<KeyPatch> {
    let budget_period = match a.budget_period.as_deref() {
        None => None,
        Some(p) => Some(Period::parse(p).ok_or_else(|| anyhow!("--budget-period must be day, month or total"))?),
    };
    let models = match a.models.as_deref().map(str::trim) {
        None => None,
        Some("none") => Some(None),
        Some(m) => Some(Some(m.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect())),
    };
    let expires_at = match a.expires.as_deref().map(str::trim) {
        None => None,
        Some("none") => Some(None),
        Some(d) => Some(Some(parse_date(d).ok_or_else(|| anyhow!("--expires must be YYYY-MM-DD or unix seconds"))?)),
    };
    Ok(KeyPatch {
        name,
        rpm: opt("rpm", &a.rpm)?,
        tpm: opt("tpm", &a.tpm)?,
        max_parallel: opt("max-parallel", &a.max_parallel)?,
        budget_usd: opt("budget-usd", &a.budget_usd)?,
        budget_period,
        models,
        expires_at,
    })
}

pub async fn keys(config: Option<PathBuf>, command: KeysCommand) -> anyhow::Result<()> {
    let store = open(config).await?;
    match command {
        KeysCommand::Create { name, limits } => {
            let p = patch_of(None, &limits)?;
            let create = super::keys::CreateKey {
                name,
                rpm: p.rpm.flatten(),
                tpm: p.tpm.flatten(),
                max_parallel: p.max_parallel.flatten(),
                budget_usd: p.budget_usd.flatten(),
                budget_period: p.budget_period.unwrap_or_default(),
                models: p.models.flatten(),
                expires_at: p.expires_at.flatten(),
            };
            let (plaintext, new) = create.into_new();
            let record = store.create_key(&new).await?;
            println!("{plaintext}");
            eprintln!("created key {} ({}); the key above is shown only once", record.id, record.name);
        }
        KeysCommand::List => print_keys(&store.list_keys().await?),
        KeysCommand::Show { id } => match store.get_key(&id).await? {
            Some(k) => println!("{}", serde_json::to_string_pretty(&k)?),
            None => bail!("no key with id {id:?}"),
        },
        KeysCommand::Update { id, name, limits } => match store.update_key(&id, patch_of(name, &limits)?).await? {
            Some(k) => print_keys(&[k]),
            None => bail!("no key with id {id:?}"),
        },
        KeysCommand::Revoke { id } => match store.revoke_key(&id).await? {
            Some(k) => eprintln!("revoked key {} ({})", k.id, k.name),
            None => bail!("no key with id {id:?}"),
        },
    }
    store.close().await;
    Ok(())
}

fn dash<T: ToString>(v: Option<T>) -> String {
    v.map_or_else(|| "-".to_string(), |v| v.to_string())
}

fn print_keys(keys: &[KeyRecord]) {
    let now = crate::store::now_ms();
    let rows: Vec<Vec<String>> = keys
        .iter()
        .map(|k| {
            let l = &k.limits;
            vec![
                k.id.clone(),
                k.name.clone(),
                dash(l.rpm),
                dash(l.tpm),
                dash(l.max_parallel),
                l.budget_usd.map_or_else(|| "-".into(), |b| format!("${b:.2}/{}", l.budget_period.name())),
                l.models.as_ref().map_or_else(|| "*".into(), |m| m.join(",")),
                k.expires_at.map_or_else(|| "-".into(), format),
                k.unusable(now).unwrap_or("active").to_string(),
            ]
        })
        .collect();
    table(&["ID", "NAME", "RPM", "TPM", "PARALLEL", "BUDGET", "MODELS", "EXPIRES", "STATUS"], &rows);
}

pub async fn usage(
    config: Option<PathBuf>,
    group_by: &str,
    from: Option<String>,
    to: Option<String>,
    key: Option<String>,
) -> anyhow::Result<()> {
    let by =
        GroupBy::parse(group_by).ok_or_else(|| anyhow!("--group-by must be key, model, provider, account or day"))?;
    let date = |v: Option<String>, d: i64| -> anyhow::Result<i64> {
        v.map_or(Ok(d), |s| parse_date(&s).ok_or_else(|| anyhow!("{s:?} is not YYYY-MM-DD or unix seconds")))
    };
    let (from, to) = (date(from, 0)?, date(to, i64::MAX)?);
    let store = open(config).await?;
    let rows = store.usage_report(by, from, to, key.as_deref()).await?;
    let total = rows.iter().fold((0i64, 0i64, 0i64, 0i64, 0f64), |t, r| {
        (t.0 + r.requests, t.1 + r.errors, t.2 + r.input_tokens, t.3 + r.output_tokens, t.4 + r.cost_usd)
    });
    let body: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.group.clone(),
                r.requests.to_string(),
                r.errors.to_string(),
                r.input_tokens.to_string(),
                r.output_tokens.to_string(),
                r.cache_read_tokens.to_string(),
                r.hit_rate.map_or_else(|| "-".to_string(), |h| format!("{:.1}", h * 100.0)),
                format!("{:.4}", r.cost_usd),
            ]
        })
        .chain(std::iter::once(vec![
            "TOTAL".into(),
            total.0.to_string(),
            total.1.to_string(),
            total.2.to_string(),
            total.3.to_string(),
            String::new(),
            String::new(),
            format!("{:.4}", total.4),
        ]))
        .collect();
    table(&[&group_by.to_uppercase(), "REQUESTS", "ERRORS", "INPUT", "OUTPUT", "CACHED", "HIT_%", "COST_USD"], &body);
    store.close().await;
    Ok(())
}

pub(crate) fn table(head: &[&str], rows: &[Vec<String>]) {
    let mut width: Vec<usize> = head.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if let Some(w) = width.get_mut(i) {
                *w = (*w).max(c.chars().count());
            }
        }
    }
    let line = |cells: Vec<&str>| {
        let s: Vec<String> = cells.iter().zip(&width).map(|(c, w)| format!("{c:<w$}")).collect();
        println!("{}", s.join("  ").trim_end());
    };
    line(head.to_vec());
    for r in rows {
        line(r.iter().map(String::as_str).collect());
    }
}
