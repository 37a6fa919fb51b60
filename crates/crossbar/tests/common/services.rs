//! PostgreSQL + Redis for fleet tests: a fresh database per test, or `None` (the test says it
//! skipped and passes) when the servers are absent — unless `CROSSBAR_REQUIRE_SERVICES=1`.
//! The same rules as `shared_store.rs`.

use sqlx::Connection;

pub fn pg_base() -> String {
    std::env::var("CROSSBAR_TEST_POSTGRES_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

pub fn redis_url() -> String {
    std::env::var("CROSSBAR_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// A fresh database's URL, or `None` when the servers are absent and not required.
pub async fn fresh_database() -> Option<String> {
    let required = std::env::var("CROSSBAR_REQUIRE_SERVICES").is_ok_and(|v| v == "1");
    let base = pg_base();
    let conn = sqlx::PgConnection::connect(&base).await;
    let redis_ok = match redis::Client::open(redis_url()) {
        Ok(c) => c.get_multiplexed_async_connection().await.is_ok(),
        Err(_) => false,
    };
    let mut conn = match (conn, redis_ok) {
        (Ok(c), true) => c,
        (pg, redis) => {
            let msg = format!(
                "PostgreSQL ({base}): {}, Redis: {}",
                if pg.is_ok() { "up" } else { "down" },
                if redis { "up" } else { "down" }
            );
            assert!(!required, "CROSSBAR_REQUIRE_SERVICES=1 but {msg}");
            eprintln!("SKIPPED: {msg} (run scripts/services.sh)");
            return None;
        }
    };
    let db = format!("cb_test_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(&format!("CREATE DATABASE {db}")).execute(&mut conn).await.expect("create database");
    let (head, _) = base.rsplit_once('/').expect("url has a database");
    Some(format!("{head}/{db}"))
}

/// Drop a test database (FORCE closes what its gateways left open).
pub async fn drop_database(url: &str) {
    let db = url.rsplit('/').next().unwrap_or_default().to_string();
    if let Ok(mut conn) = sqlx::PgConnection::connect(&pg_base()).await {
        let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)")).execute(&mut conn).await;
    }
}
