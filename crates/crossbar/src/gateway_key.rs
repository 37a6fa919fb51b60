//! The gateway's own secret key, which seals opaque state (reasoning signatures, compaction
//! summaries) that travels through clients. It lives in `<data_dir>/gateway.key` (32 random
//! bytes, mode 0600), created on first start, so envelopes stay valid across restarts; several
//! instances share it by sharing the file (or `CROSSBAR_GATEWAY_KEY`, 64 hex characters).

use std::io::Write;
use std::path::Path;

pub fn load_or_create(data_dir: &Path) -> anyhow::Result<[u8; 32]> {
    if let Ok(hex) = std::env::var("CROSSBAR_GATEWAY_KEY") {
        return parse_hex(hex.trim()).ok_or_else(|| anyhow::anyhow!("CROSSBAR_GATEWAY_KEY must be 64 hex characters"));
    }
    let path = data_dir.join("gateway.key");
    match std::fs::read(&path) {
        Ok(bytes) => <[u8; 32]>::try_from(bytes.as_slice())
            .map_err(|_| anyhow::anyhow!("{} is not a 32-byte key; remove it to make a new one", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(data_dir)
                .map_err(|e| anyhow::anyhow!("cannot create data dir {}: {e}", data_dir.display()))?;
            let key: [u8; 32] = rand::random();
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create_new(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                opts.mode(0o600);
            }
            match opts.open(&path) {
                Ok(mut f) => {
                    f.write_all(&key)?;
                    f.sync_all()?;
                    Ok(key)
                }
                // Another instance created it first: use theirs.
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => load_or_create(data_dir),
                Err(e) => Err(anyhow::anyhow!("cannot write {}: {e}", path.display())),
            }
        }
        Err(e) => Err(anyhow::anyhow!("cannot read {}: {e}", path.display())),
    }
}

/// A 32-byte key from 64 hex characters.
pub(crate) fn parse_hex(s: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(s, &mut out).ok()?;
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_is_created_once_and_reused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = load_or_create(dir.path()).expect("create");
        let b = load_or_create(dir.path()).expect("reload");
        assert_eq!(a, b);
        assert_eq!(parse_hex(&"ab".repeat(32)), Some([0xab; 32]));
        assert_eq!(parse_hex("zz"), None);
    }
}
