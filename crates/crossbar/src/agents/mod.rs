//! The coding agents crossbar sets up and checks: where each keeps its config, how to point it
//! at crossbar (`setup`), and how to tell whether it already is (`doctor`).
//!
//! Everything here edits the user's own files: it merges (never replaces what is unrelated),
//! backs up a file before changing it, and can print instead of writing. It never logs keys
//! beyond writing them where the agent expects them.

pub mod doctor;
pub mod files;
pub mod setup;

use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Agent {
    Codex,
    ClaudeCode,
    Opencode,
    Gemini,
}

pub const ALL: [Agent; 4] = [Agent::Codex, Agent::ClaudeCode, Agent::Opencode, Agent::Gemini];

/// The Codex provider id crossbar writes (`[model_providers.crossbar]`).
pub const PROVIDER_ID: &str = "crossbar";

/// Key sent when the user gives none: the gateway needs no key on loopback.
pub const DUMMY_KEY: &str = "crossbar-local";

impl Agent {
    pub fn name(self) -> &'static str {
        match self {
            Agent::Codex => "codex",
            Agent::ClaudeCode => "claude-code",
            Agent::Opencode => "opencode",
            Agent::Gemini => "gemini",
        }
    }

    /// The agent's command (to tell whether it is installed).
    pub fn binary(self) -> &'static str {
        match self {
            Agent::Codex => "codex",
            Agent::ClaudeCode => "claude",
            Agent::Opencode => "opencode",
            Agent::Gemini => "gemini",
        }
    }

    /// The config file crossbar writes for this agent.
    pub fn config_file(self) -> PathBuf {
        match self {
            Agent::Codex => env_dir("CODEX_HOME").unwrap_or_else(|| home().join(".codex")).join("config.toml"),
            Agent::ClaudeCode => {
                env_dir("CLAUDE_CONFIG_DIR").unwrap_or_else(|| home().join(".claude")).join("settings.json")
            }
            Agent::Opencode => env_dir("XDG_CONFIG_HOME")
                .unwrap_or_else(|| home().join(".config"))
                .join("opencode")
                .join("opencode.json"),
            Agent::Gemini => home().join(".gemini").join("settings.json"),
        }
    }

    /// Whether the agent looks installed: its command on PATH or its config directory exists.
    pub fn installed(self) -> bool {
        let on_path = std::env::var_os("PATH")
            .map(|p| std::env::split_paths(&p).any(|d| d.join(self.binary()).is_file()))
            .unwrap_or(false);
        on_path || self.config_file().parent().is_some_and(|d| d.is_dir())
    }
}

fn env_dir(var: &str) -> Option<PathBuf> {
    std::env::var_os(var).filter(|v| !v.is_empty()).map(PathBuf::from)
}

pub fn home() -> PathBuf {
    env_dir("HOME").unwrap_or_else(|| PathBuf::from("."))
}

/// `http://host:port` without a trailing slash or `/v1`.
pub fn origin(url: &str) -> String {
    let u = url.trim().trim_end_matches('/');
    u.strip_suffix("/v1").unwrap_or(u).to_string()
}
