//! The account file: `<data_dir>/accounts.sealed`, the accounts as JSON sealed with
//! ChaCha20-Poly1305. The key is `CROSSBAR_ACCOUNTS_KEY` (64 hex characters) when set, else the
//! gateway key (`gateway_key.rs`). Written atomically (temp file + rename, mode 0600).
//! The storage issue may move accounts into the database; this file is the interim home.
//! Must never: write tokens anywhere unsealed, or log them.

use super::Account;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use std::io::Write;
use std::path::{Path, PathBuf};

const PREFIX: &str = "crossbar-accounts-v1:";

/// Serialises read-modify-write of the file within this process (imports, token refreshes,
/// usage windows); across processes the last atomic rename wins.
pub static FILE_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

pub struct Store {
    path: PathBuf,
    cipher: ChaCha20Poly1305,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

impl Store {
    pub fn open(data_dir: &Path) -> anyhow::Result<Store> {
        let key = match std::env::var("CROSSBAR_ACCOUNTS_KEY") {
            Ok(hex) => parse_hex(hex.trim())
                .ok_or_else(|| anyhow::anyhow!("CROSSBAR_ACCOUNTS_KEY must be 64 hex characters"))?,
            Err(_) => crate::gateway_key::load_or_create(data_dir)?,
        };
        Ok(Store { path: data_dir.join("accounts.sealed"), cipher: ChaCha20Poly1305::new(Key::from_slice(&key)) })
    }

    /// The file's modification time and length, to notice changes cheaply (`None`: no file).
    pub fn stamp(&self) -> Option<(std::time::SystemTime, u64)> {
        let m = std::fs::metadata(&self.path).ok()?;
        Some((m.modified().ok()?, m.len()))
    }

    pub fn load(&self) -> anyhow::Result<Vec<Account>> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => anyhow::bail!("cannot read {}: {e}", self.path.display()),
        };
        let bad = || {
            anyhow::anyhow!(
                "{} cannot be opened with this key (CROSSBAR_ACCOUNTS_KEY or the gateway key)",
                self.path.display()
            )
        };
        let raw = STANDARD.decode(text.trim().strip_prefix(PREFIX).ok_or_else(bad)?).map_err(|_| bad())?;
        if raw.len() < 12 {
            return Err(bad());
        }
        let (nonce, sealed) = raw.split_at(12);
        let plain = self.cipher.decrypt(Nonce::from_slice(nonce), sealed).map_err(|_| bad())?;
        Ok(serde_json::from_slice(&plain)?)
    }

    pub fn save(&self, accounts: &[Account]) -> anyhow::Result<()> {
        let plain = serde_json::to_vec(accounts)?;
        let nonce = ChaCha20Poly1305::generate_nonce(&mut OsRng);
        let sealed = self
            .cipher
            .encrypt(&nonce, plain.as_slice())
            .map_err(|_| anyhow::anyhow!("cannot seal the account file"))?;
        let mut raw = nonce.to_vec();
        raw.extend_from_slice(&sealed);
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = self.path.with_extension(format!("tmp{}", std::process::id()));
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts.open(&tmp)?;
        f.write_all(format!("{PREFIX}{}\n", STANDARD.encode(raw)).as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, &self.path)?;
        Ok(())
    }
}

fn parse_hex(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(s.get(i * 2..i * 2 + 2)?, 16).ok()?;
    }
    Some(out)
}
