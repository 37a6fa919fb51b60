//! The account file of earlier versions: `<data_dir>/accounts.sealed`, the accounts as JSON
//! sealed with ChaCha20-Poly1305 under the same key as the store's rows (`seal.rs`, no
//! associated data). The store is the accounts' home now: a gateway imports this file once
//! (`db.rs`) and leaves it where it is; nothing writes it any more except `write`, which
//! makes one in this format (tests of that import).
//! Must never: write tokens anywhere unsealed, or log them.

use super::seal::Sealer;
use super::Account;
use std::io::Write;
use std::path::{Path, PathBuf};

const PREFIX: &str = "crossbar-accounts-v1:";

pub fn path(data_dir: &Path) -> PathBuf {
    data_dir.join("accounts.sealed")
}

/// The file's text and its accounts; `None` when there is no file.
pub fn read(data_dir: &Path, sealer: &Sealer) -> anyhow::Result<Option<(String, Vec<Account>)>> {
    let path = path(data_dir);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => anyhow::bail!("cannot read {}: {e}", path.display()),
    };
    let plain = text.trim().strip_prefix(PREFIX).and_then(|s| sealer.unseal(s, b"")).ok_or_else(|| {
        anyhow::anyhow!("{} cannot be opened with this key (CROSSBAR_ACCOUNTS_KEY or the gateway key)", path.display())
    })?;
    let accounts = serde_json::from_slice(&plain)?;
    Ok(Some((text, accounts)))
}

/// Write `accounts` as earlier versions did (atomically, mode 0600).
pub fn write(data_dir: &Path, sealer: &Sealer, accounts: &[Account]) -> anyhow::Result<()> {
    let sealed = sealer.seal(&serde_json::to_vec(accounts)?, b"")?;
    std::fs::create_dir_all(data_dir)?;
    let path = path(data_dir);
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(&tmp)?;
    f.write_all(format!("{PREFIX}{sealed}\n").as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, &path)?;
    Ok(())
}
