//! Reading, backing up and writing the agents' config files.

use std::path::{Path, PathBuf};

/// A planned change to one file.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub path: PathBuf,
    pub before: Option<String>,
    pub after: String,
}

impl Change {
    pub fn new(path: PathBuf, after: String) -> std::io::Result<Change> {
        let before = read_optional(&path)?;
        Ok(Change { path, before, after })
    }

    pub fn is_noop(&self) -> bool {
        self.before.as_deref() == Some(self.after.as_str())
    }

    /// Write the file (owner-only permissions: it may hold a key), backing up what was there.
    /// Returns the backup's path, if one was made.
    pub fn apply(&self) -> std::io::Result<Option<PathBuf>> {
        if self.is_noop() {
            return Ok(None);
        }
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let backup = match &self.before {
            Some(old) => {
                let b = backup_path(&self.path);
                std::fs::write(&b, old)?;
                Some(b)
            }
            None => None,
        };
        write_private(&self.path, &self.after)?;
        Ok(backup)
    }
}

pub fn read_optional(path: &Path) -> std::io::Result<Option<String>> {
    match std::fs::read_to_string(path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// `<file>.crossbar-backup-<unix seconds>` (a number is added if that exists).
fn backup_path(path: &Path) -> PathBuf {
    let stamp = crate::pipeline::unix_now();
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let mut candidate = path.with_file_name(format!("{name}.crossbar-backup-{stamp}"));
    let mut n = 1;
    while candidate.exists() {
        candidate = path.with_file_name(format!("{name}.crossbar-backup-{stamp}-{n}"));
        n += 1;
    }
    candidate
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    std::fs::write(path, text)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}

/// A JSON object from a file's text (empty text → empty object); an error names the file.
pub fn json_object(path: &Path, text: Option<&str>) -> Result<serde_json::Map<String, serde_json::Value>, String> {
    let text = text.unwrap_or("").trim();
    if text.is_empty() {
        return Ok(serde_json::Map::new());
    }
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(serde_json::Value::Object(m)) => Ok(m),
        Ok(_) => Err(format!("{} does not hold a JSON object; fix or move it, then run setup again", path.display())),
        Err(e) => Err(format!("{} is not valid JSON ({e}); fix or move it, then run setup again", path.display())),
    }
}

pub fn pretty(v: &serde_json::Value) -> String {
    let mut s = serde_json::to_string_pretty(v).unwrap_or_default();
    s.push('\n');
    s
}
