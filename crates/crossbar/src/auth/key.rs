//! The key format: `cb-<public id>-<secret>`, 12 hex digits of id and 48 of secret
//! (192 random bits). The id names the key in logs, usage and the admin API; only the
//! SHA-256 of the secret is stored.
//!
//! Why a plain SHA-256 and not a slow password hash: the secret is 192 bits from the OS
//! RNG, so there is nothing to brute-force that a work factor would slow down, and a fast
//! hash keeps the key check within the per-request budget (a few µs on a cache miss).

use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

pub const PREFIX: &str = "cb-";
const ID_HEX: usize = 12;
const SECRET_HEX: usize = 48;

/// A freshly generated key: the plaintext (shown once) and what the store keeps.
pub struct Generated {
    pub plaintext: String,
    pub id: String,
    pub secret_sha256: String,
}

pub fn generate() -> Generated {
    let mut id = [0u8; ID_HEX / 2];
    let mut secret = [0u8; SECRET_HEX / 2];
    rand::rngs::OsRng.fill_bytes(&mut id);
    rand::rngs::OsRng.fill_bytes(&mut secret);
    let id = hex::encode(id);
    let secret = hex::encode(secret);
    Generated { plaintext: format!("{PREFIX}{id}-{secret}"), secret_sha256: hash(&secret), id }
}

/// Split a presented key into (id, secret), if it has the shape of one.
pub fn parse(presented: &str) -> Option<(&str, &str)> {
    let rest = presented.strip_prefix(PREFIX)?;
    let (id, secret) = rest.split_once('-')?;
    let hexy = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
    (hexy(id, ID_HEX) && hexy(secret, SECRET_HEX)).then_some((id, secret))
}

pub fn hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Whether `secret` hashes to `stored`, compared in constant time.
pub fn matches(secret: &str, stored: &str) -> bool {
    hash(secret).as_bytes().ct_eq(stored.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_parse_and_match_only_their_secret() {
        let g = generate();
        let (id, secret) = parse(&g.plaintext).expect("parses");
        assert_eq!(id, g.id);
        assert!(matches(secret, &g.secret_sha256));
        assert!(
            !matches(&secret.replace('a', "b").replace('0', "1"), &g.secret_sha256) || !secret.contains(['a', '0'])
        );
        assert!(!g.secret_sha256.contains(secret));
    }

    #[test]
    fn malformed_keys_do_not_parse() {
        for k in [
            "",
            "cb-",
            "sk-abc",
            "cb-zzzzzzzzzzzz-00",
            "cb-0123456789ab",
            "cb-0123456789ab-xyz",
            "cb-0123456789ab-\u{e9}",
        ] {
            assert!(parse(k).is_none(), "{k}");
        }
    }
}
