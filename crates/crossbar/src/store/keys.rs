//! Client keys in the database: create, get, list, update, revoke. Only the public id and the
//! SHA-256 of the secret are stored (see `auth`).

use super::{now_ms, with_pool, Store, StoreError};
use serde::{Deserialize, Deserializer, Serialize};

/// The period a budget covers. `Day` and `Month` are calendar periods in UTC.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Period {
    Day,
    Month,
    #[default]
    Total,
}

impl Period {
    pub fn parse(s: &str) -> Option<Period> {
        match s {
            "day" => Some(Period::Day),
            "month" => Some(Period::Month),
            "total" => Some(Period::Total),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Period::Day => "day",
            Period::Month => "month",
            Period::Total => "total",
        }
    }
}

/// What a key may do. `None` everywhere means unlimited.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyLimits {
    pub rpm: Option<u32>,
    pub tpm: Option<u64>,
    pub max_parallel: Option<u32>,
    pub budget_usd: Option<f64>,
    #[serde(default)]
    pub budget_period: Period,
    /// Model names (as clients ask for them) this key may use; `None` = all.
    pub models: Option<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KeyRecord {
    pub id: String,
    pub name: String,
    #[serde(skip)]
    pub secret_sha256: String,
    #[serde(flatten)]
    pub limits: KeyLimits,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
    pub created_at: i64,
}

impl KeyRecord {
    /// Why this key cannot be used now, if it cannot.
    pub fn unusable(&self, now_ms: i64) -> Option<&'static str> {
        if self.revoked_at.is_some() {
            return Some("revoked");
        }
        if self.expires_at.is_some_and(|e| e <= now_ms) {
            return Some("expired");
        }
        None
    }
}

#[derive(Debug, Clone)]
pub struct NewKey {
    pub id: String,
    pub name: String,
    pub secret_sha256: String,
    pub limits: KeyLimits,
    pub expires_at: Option<i64>,
}

/// A partial update: absent fields are kept, `null` clears a limit.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyPatch {
    pub name: Option<String>,
    #[serde(default, deserialize_with = "some")]
    pub rpm: Option<Option<u32>>,
    #[serde(default, deserialize_with = "some")]
    pub tpm: Option<Option<u64>>,
    #[serde(default, deserialize_with = "some")]
    pub max_parallel: Option<Option<u32>>,
    #[serde(default, deserialize_with = "some")]
    pub budget_usd: Option<Option<f64>>,
    pub budget_period: Option<Period>,
    #[serde(default, deserialize_with = "some")]
    pub models: Option<Option<Vec<String>>>,
    #[serde(default, deserialize_with = "some")]
    pub expires_at: Option<Option<i64>>,
}

/// Present (even as `null`) → `Some(value)`; absent → `None` via `default`.
fn some<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Ok(Some(Option::<T>::deserialize(d)?))
}

impl KeyPatch {
    fn apply(self, k: &mut KeyRecord) {
        if let Some(v) = self.name {
            k.name = v;
        }
        if let Some(v) = self.rpm {
            k.limits.rpm = v;
        }
        if let Some(v) = self.tpm {
            k.limits.tpm = v;
        }
        if let Some(v) = self.max_parallel {
            k.limits.max_parallel = v;
        }
        if let Some(v) = self.budget_usd {
            k.limits.budget_usd = v;
        }
        if let Some(v) = self.budget_period {
            k.limits.budget_period = v;
        }
        if let Some(v) = self.models {
            k.limits.models = v;
        }
        if let Some(v) = self.expires_at {
            k.expires_at = v;
        }
    }
}

/// Checks shared by the CLI and the admin API; the message names the field.
pub fn validate(name: &str, limits: &KeyLimits) -> Result<(), StoreError> {
    let bad = |m: &str| Err(StoreError::Invalid(m.to_string()));
    if name.trim().is_empty() || name.len() > 200 || name.chars().any(char::is_control) {
        return bad("name: 1 to 200 printable characters");
    }
    if limits.rpm == Some(0) || limits.tpm == Some(0) || limits.max_parallel == Some(0) {
        return bad("rpm, tpm and max_parallel must be at least 1 (omit them for no limit)");
    }
    if limits.budget_usd.is_some_and(|b| !b.is_finite() || !(0.0..=1e12).contains(&b)) {
        return bad("budget_usd: a number of dollars from 0 to 1e12");
    }
    if let Some(m) = &limits.models {
        if m.len() > 1000 || m.iter().any(|s| s.is_empty() || s.len() > 300 || s.chars().any(char::is_control)) {
            return bad("models: up to 1000 model names of 1 to 300 printable characters");
        }
    }
    Ok(())
}

#[derive(sqlx::FromRow)]
struct KeyRow {
    id: String,
    name: String,
    secret_sha256: String,
    rpm: Option<i64>,
    tpm: Option<i64>,
    max_parallel: Option<i64>,
    budget_usd: Option<f64>,
    budget_period: String,
    models: Option<String>,
    expires_at: Option<i64>,
    revoked_at: Option<i64>,
    created_at: i64,
}

impl From<KeyRow> for KeyRecord {
    fn from(r: KeyRow) -> KeyRecord {
        KeyRecord {
            id: r.id,
            name: r.name,
            secret_sha256: r.secret_sha256,
            limits: KeyLimits {
                rpm: r.rpm.and_then(|v| u32::try_from(v).ok()),
                tpm: r.tpm.and_then(|v| u64::try_from(v).ok()),
                max_parallel: r.max_parallel.and_then(|v| u32::try_from(v).ok()),
                budget_usd: r.budget_usd,
                budget_period: Period::parse(&r.budget_period).unwrap_or_default(),
                models: r.models.and_then(|m| serde_json::from_str(&m).ok()),
            },
            expires_at: r.expires_at,
            revoked_at: r.revoked_at,
            created_at: r.created_at,
        }
    }
}

fn i(v: Option<impl Into<u64>>) -> Option<i64> {
    v.map(|v| i64::try_from(v.into()).unwrap_or(i64::MAX))
}

fn models_json(m: &Option<Vec<String>>) -> Option<String> {
    m.as_ref().and_then(|m| serde_json::to_string(m).ok())
}

const SELECT: &str = "SELECT id, name, secret_sha256, rpm, tpm, max_parallel, budget_usd, budget_period, models, \
                      expires_at, revoked_at, created_at FROM keys";

impl Store {
    pub async fn create_key(&self, k: &NewKey) -> Result<KeyRecord, StoreError> {
        self.ready().await?;
        validate(&k.name, &k.limits)?;
        let now = now_ms();
        let l = &k.limits;
        with_pool!(self, p => {
            sqlx::query(
                "INSERT INTO keys (id, name, secret_sha256, rpm, tpm, max_parallel, budget_usd, budget_period, models, expires_at, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            )
            .bind(&k.id)
            .bind(&k.name)
            .bind(&k.secret_sha256)
            .bind(i(l.rpm))
            .bind(i(l.tpm))
            .bind(i(l.max_parallel))
            .bind(l.budget_usd)
            .bind(l.budget_period.name())
            .bind(models_json(&l.models))
            .bind(k.expires_at)
            .bind(now)
            .execute(p)
            .await
            .map(|_| ())?
        });
        self.get_key(&k.id).await?.ok_or_else(|| StoreError::Invalid("the key vanished after insert".into()))
    }

    pub async fn get_key(&self, id: &str) -> Result<Option<KeyRecord>, StoreError> {
        self.ready().await?;
        let q = format!("{SELECT} WHERE id = $1");
        let row: Option<KeyRow> = with_pool!(self, p => sqlx::query_as(&q).bind(id).fetch_optional(p).await?);
        Ok(row.map(KeyRecord::from))
    }

    pub async fn list_keys(&self) -> Result<Vec<KeyRecord>, StoreError> {
        self.ready().await?;
        let q = format!("{SELECT} ORDER BY created_at, id");
        let rows: Vec<KeyRow> = with_pool!(self, p => sqlx::query_as(&q).fetch_all(p).await?);
        Ok(rows.into_iter().map(KeyRecord::from).collect())
    }

    /// Apply `patch`; `None` if there is no such key.
    pub async fn update_key(&self, id: &str, patch: KeyPatch) -> Result<Option<KeyRecord>, StoreError> {
        let Some(mut k) = self.get_key(id).await? else { return Ok(None) };
        patch.apply(&mut k);
        validate(&k.name, &k.limits)?;
        let l = &k.limits;
        with_pool!(self, p => {
            sqlx::query(
                "UPDATE keys SET name = $2, rpm = $3, tpm = $4, max_parallel = $5, budget_usd = $6, budget_period = $7, \
                 models = $8, expires_at = $9 WHERE id = $1",
            )
            .bind(id)
            .bind(&k.name)
            .bind(i(l.rpm))
            .bind(i(l.tpm))
            .bind(i(l.max_parallel))
            .bind(l.budget_usd)
            .bind(l.budget_period.name())
            .bind(models_json(&l.models))
            .bind(k.expires_at)
            .execute(p)
            .await
            .map(|_| ())?
        });
        self.get_key(id).await
    }

    /// Revoke (idempotent); `None` if there is no such key.
    pub async fn revoke_key(&self, id: &str) -> Result<Option<KeyRecord>, StoreError> {
        self.ready().await?;
        let now = now_ms();
        with_pool!(self, p => {
            sqlx::query("UPDATE keys SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
                .bind(id)
                .bind(now)
                .execute(p)
                .await
                .map(|_| ())?
        });
        self.get_key(id).await
    }
}
