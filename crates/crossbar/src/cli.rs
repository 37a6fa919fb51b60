//! The command line: `serve`, `check-config`, `mock-upstream`, `setup`, `doctor`, `accounts`.

use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(name = "crossbar", version, about = "A self-hosted LLM API gateway: every client protocol in, every provider protocol out.")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the gateway. Without a config file it starts on embedded defaults: loopback,
    /// providers for the standard key variables that are set, and the built-in mock.
    Serve {
        /// TOML config file.
        #[arg(long, env = "CROSSBAR_CONFIG")]
        config: Option<PathBuf>,
        /// Listen address, overriding the config (e.g. 127.0.0.1:4141).
        #[arg(long)]
        listen: Option<String>,
    },
    /// Validate a config file and print every problem with its line; exit 1 if invalid.
    CheckConfig {
        file: PathBuf,
    },
    /// ChatGPT subscription accounts for `kind = "chatgpt"` providers (stored sealed in the data dir).
    Accounts {
        /// Config file whose `server.data_dir` holds the accounts (default data dir otherwise).
        #[arg(long, env = "CROSSBAR_CONFIG")]
        config: Option<PathBuf>,
        #[command(subcommand)]
        action: AccountsAction,
    },
    /// Run the mock upstream (speaks OpenAI Chat, Responses, Anthropic and Gemini).
    MockUpstream {
        #[arg(long, default_value = "127.0.0.1:9999")]
        listen: String,
    },
    /// Point a coding agent at crossbar: merges crossbar's settings into the agent's own
    /// config (backing up what it changes) and prints what it did.
    Setup {
        #[arg(value_enum)]
        agent: crate::agents::Agent,
        /// The model the agent uses (default: the first model the gateway lists).
        #[arg(long)]
        model: Option<String>,
        /// The key the agent sends (default: $CROSSBAR_API_KEY, else a placeholder).
        #[arg(long)]
        key: Option<String>,
        /// The gateway's address.
        #[arg(long, default_value = "http://127.0.0.1:4141")]
        url: String,
        /// Show the resulting files without writing them.
        #[arg(long)]
        print: bool,
    },
    /// Check a running gateway: models, a "pong" through each client protocol, and whether the
    /// installed agents point at it.
    Doctor {
        #[arg(long, default_value = "http://127.0.0.1:4141")]
        url: String,
        /// The key to send (default: $CROSSBAR_API_KEY, else a placeholder).
        #[arg(long)]
        key: Option<String>,
        /// The model to send the pongs to (default: the first listed).
        #[arg(long)]
        model: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum AccountsAction {
    /// Add (or replace) the account of a Codex `auth.json` (e.g. ~/.codex/auth.json).
    Import { path: PathBuf },
    /// Each account's id, email, state, token expiry and last error.
    List,
}
