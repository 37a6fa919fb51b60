//! Upstream API keys: where they come from, and a type that never prints them.
//!
//! A key is a literal, an environment variable, a file (trimmed) or a command's stdout (run
//! with a timeout, cached, re-run when the upstream answers 401 — the way Codex users already
//! keep secrets). Keys are never logged, never returned to clients, never sent to another
//! provider: `Secret`'s `Debug`/`Display` redact, and it has no `Serialize`.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;

#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Arc<str>);

impl Secret {
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(Arc::from(s.into()))
    }
    /// The only way to read the value: call sites that need it are easy to audit.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum KeySource {
    None,
    Literal(Secret),
    Env(String),
    File(std::path::PathBuf),
    Command(Vec<String>),
    /// A pooled ChatGPT account (provider kind `chatgpt`).
    Account(std::sync::Arc<crate::accounts::token::AccountHandle>),
}

/// How long a key command may run.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("environment variable {0} is not set or empty")]
    EnvMissing(String),
    #[error("cannot read key file {path}: {err}")]
    File { path: String, err: std::io::Error },
    #[error("key file {0} is empty")]
    FileEmpty(String),
    #[error("key command `{cmd}` failed: {why}")]
    Command { cmd: String, why: String },
    #[error("{0}")]
    Account(String),
}

/// Resolves a `KeySource`, caching command output until `invalidate` (after a 401).
#[derive(Debug)]
pub struct KeyResolver {
    source: KeySource,
    cached: Mutex<Option<Secret>>,
}

impl KeyResolver {
    pub fn new(source: KeySource) -> KeyResolver {
        KeyResolver { source, cached: Mutex::new(None) }
    }

    pub fn source(&self) -> &KeySource {
        &self.source
    }

    /// The current key, or `None` for providers that need none (the mock, local servers).
    pub async fn get(&self) -> Result<Option<Secret>, KeyError> {
        match &self.source {
            KeySource::None => Ok(None),
            KeySource::Literal(s) => Ok(Some(s.clone())),
            KeySource::Env(var) => match std::env::var(var) {
                Ok(v) if !v.trim().is_empty() => Ok(Some(Secret::new(v.trim()))),
                _ => Err(KeyError::EnvMissing(var.clone())),
            },
            KeySource::File(path) => {
                let text = tokio::fs::read_to_string(path)
                    .await
                    .map_err(|err| KeyError::File { path: path.display().to_string(), err })?;
                let key = text.trim();
                if key.is_empty() {
                    return Err(KeyError::FileEmpty(path.display().to_string()));
                }
                Ok(Some(Secret::new(key)))
            }
            KeySource::Account(a) => a.access_token().await.map(Some),
            KeySource::Command(argv) => {
                let mut cached = self.cached.lock().await;
                if let Some(s) = cached.as_ref() {
                    return Ok(Some(s.clone()));
                }
                let key = run_key_command(argv).await?;
                *cached = Some(key.clone());
                Ok(Some(key))
            }
        }
    }

    /// Forget a cached command key (the upstream said 401): the next `get` re-runs the command.
    pub async fn invalidate(&self) {
        if let KeySource::Account(a) = &self.source {
            // A refused refresh disables the account; the retry then fails with its key error.
            let _ = a.refresh().await;
            return;
        }
        *self.cached.lock().await = None;
    }

    pub fn is_refreshable(&self) -> bool {
        matches!(self.source, KeySource::Command(_) | KeySource::Account(_))
    }
}

async fn run_key_command(argv: &[String]) -> Result<Secret, KeyError> {
    let cmd = argv.join(" ");
    let Some((program, args)) = argv.split_first() else {
        return Err(KeyError::Command { cmd, why: "empty command".into() });
    };
    let child = tokio::process::Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| KeyError::Command { cmd: cmd.clone(), why: e.to_string() })?;
    let out = tokio::time::timeout(COMMAND_TIMEOUT, child.wait_with_output())
        .await
        .map_err(|_| KeyError::Command { cmd: cmd.clone(), why: format!("timed out after {COMMAND_TIMEOUT:?}") })?
        .map_err(|e| KeyError::Command { cmd: cmd.clone(), why: e.to_string() })?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        return Err(KeyError::Command { cmd, why: format!("exited with {}: {}", out.status, stderr.trim()) });
    }
    let key = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if key.is_empty() {
        return Err(KeyError::Command { cmd, why: "printed no key".into() });
    }
    Ok(Secret::new(key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let s = Secret::new("sk-very-secret");
        assert_eq!(format!("{s:?} {s}"), "Secret(<redacted>) <redacted>");
        let src = KeySource::Literal(s);
        assert!(!format!("{src:?}").contains("very-secret"));
    }

    #[tokio::test]
    async fn command_keys_are_cached_until_invalidated() {
        let dir = tempfile::tempdir().expect("tempdir");
        let counter = dir.path().join("n");
        let script = format!(
            "n=$(cat {p} 2>/dev/null || echo 0); n=$((n+1)); echo $n > {p}; echo key-$n",
            p = counter.display()
        );
        let r = KeyResolver::new(KeySource::Command(vec!["sh".into(), "-c".into(), script]));
        assert_eq!(r.get().await.ok().flatten().map(|s| s.expose().to_string()), Some("key-1".into()));
        assert_eq!(r.get().await.ok().flatten().map(|s| s.expose().to_string()), Some("key-1".into()));
        r.invalidate().await;
        assert_eq!(r.get().await.ok().flatten().map(|s| s.expose().to_string()), Some("key-2".into()));
    }

    #[tokio::test]
    async fn failing_commands_and_missing_env_are_errors() {
        let r = KeyResolver::new(KeySource::Command(vec!["false".into()]));
        assert!(matches!(r.get().await, Err(KeyError::Command { .. })));
        let r = KeyResolver::new(KeySource::Env("CROSSBAR_TEST_SURELY_UNSET".into()));
        assert!(matches!(r.get().await, Err(KeyError::EnvMissing(_))));
    }
}
