//! The gateway's one Redis connection (with `[redis]` or `REDIS_URL`): connected on first use,
//! reconnecting by itself (`ConnectionManager`), shared by the key limits (`limits::shared`) and
//! conversation affinity (`pipeline::attempt::affinity`). Keys are `<prefix>:<what>:<id>`.

use redis::aio::ConnectionManager;
use tokio::sync::OnceCell;

pub struct RedisConn {
    client: redis::Client,
    conn: OnceCell<ConnectionManager>,
    prefix: String,
}

impl RedisConn {
    pub fn new(url: &str, prefix: &str) -> anyhow::Result<RedisConn> {
        let client = redis::Client::open(url).map_err(|e| anyhow::anyhow!("redis url: {e}"))?;
        Ok(RedisConn { client, conn: OnceCell::new(), prefix: prefix.to_string() })
    }

    pub async fn conn(&self) -> redis::RedisResult<ConnectionManager> {
        self.conn.get_or_try_init(|| ConnectionManager::new(self.client.clone())).await.cloned()
    }

    /// A connection of its own for subscriptions (`fleet.rs`).
    pub async fn pubsub(&self) -> redis::RedisResult<redis::aio::PubSub> {
        self.client.get_async_pubsub().await
    }

    pub async fn ping(&self) -> anyhow::Result<()> {
        let mut c = self.conn().await?;
        let _: String = redis::cmd("PING").query_async(&mut c).await?;
        Ok(())
    }

    /// `<prefix>:<what>:<id>`.
    pub fn key(&self, what: &str, id: &str) -> String {
        format!("{}:{what}:{id}", self.prefix)
    }
}
