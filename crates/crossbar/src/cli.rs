//! The command line: `serve`, `check-config`, `keys …`, `usage`, `mock-upstream`, `setup`,
//! `doctor`, `accounts`, `prices`.

use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "crossbar",
    version,
    about = "A self-hosted LLM API gateway: every client protocol in, every provider protocol out."
)]
pub struct Cli {
    /// TOML config file (`[storage]`, the data directory, providers, …), before or after the
    /// command and its arguments; `serve` without one runs on embedded defaults.
    #[arg(long, env = "CROSSBAR_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the gateway. Without a config file it starts on embedded defaults: loopback,
    /// providers for the standard key variables that are set, and the built-in mock.
    Serve {
        /// Listen address, overriding the config (e.g. 127.0.0.1:4141).
        #[arg(long)]
        listen: Option<String>,
    },
    /// Validate a config file and print every problem with its line; exit 1 if invalid.
    CheckConfig { file: PathBuf },
    /// ChatGPT subscription accounts for `kind = "chatgpt"` providers (in the configured store,
    /// their tokens sealed).
    Accounts {
        #[command(subcommand)]
        action: AccountsAction,
    },
    /// Manage client keys in the configured store (SQLite in the data dir, or PostgreSQL).
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Model prices: the table in effect, updates from LiteLLM or models.dev files, re-pricing.
    Prices {
        #[command(subcommand)]
        command: PricesCommand,
    },
    /// Usage and cost totals from the configured store, as a table.
    Usage {
        /// key | model | provider | account | day
        #[arg(long, default_value = "key")]
        group_by: String,
        /// From this date (YYYY-MM-DD, UTC) or unix time.
        #[arg(long)]
        from: Option<String>,
        /// Up to (not including) this date.
        #[arg(long)]
        to: Option<String>,
        /// Only this key id.
        #[arg(long)]
        key: Option<String>,
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
    /// Sign in to a ChatGPT account with a device code (as `codex login --device-auth`): prints
    /// a link and a code to enter there, waits for the sign-in, then adds (or replaces) the account.
    Login {
        /// The OpenAI auth server.
        #[arg(long, default_value = crate::accounts::login::DEFAULT_ISSUER)]
        issuer: String,
        /// The OAuth token endpoint (default: `{issuer}/oauth/token`).
        #[arg(long)]
        token_url: Option<String>,
    },
    /// Each account's id, email, state, token expiry and last error.
    List,
    /// Forget an account (by its id, as `list` shows it).
    Remove { id: String },
    /// Stop using an account without forgetting it.
    Disable { id: String },
    /// Use a disabled account again (one whose refresh token was refused needs a new login).
    Enable { id: String },
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create a key and print it (the only time it is shown).
    Create {
        #[arg(long)]
        name: String,
        #[command(flatten)]
        limits: LimitArgs,
    },
    /// List keys (never their secrets).
    List,
    /// Show one key.
    Show { id: String },
    /// Change a key's name or limits; give a limit as `none` to remove it.
    Update {
        id: String,
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        limits: LimitArgs,
    },
    /// Revoke a key (refused by every instance within the auth cache TTL).
    Revoke { id: String },
}

#[derive(Debug, clap::Args)]
pub struct LimitArgs {
    /// Requests per minute.
    #[arg(long)]
    pub rpm: Option<String>,
    /// Tokens (input + output) per minute.
    #[arg(long)]
    pub tpm: Option<String>,
    /// Requests in flight at once.
    #[arg(long)]
    pub max_parallel: Option<String>,
    /// Budget in US dollars per period.
    #[arg(long)]
    pub budget_usd: Option<String>,
    /// day | month | total (default total)
    #[arg(long)]
    pub budget_period: Option<String>,
    /// Comma-separated model names this key may use.
    #[arg(long)]
    pub models: Option<String>,
    /// Expiry date (YYYY-MM-DD, UTC) or unix time.
    #[arg(long)]
    pub expires: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum PricesCommand {
    /// The prices in effect (config, store and built-in rows), with each row's source.
    List,
    /// Load a price file (LiteLLM's model_prices_and_context_window.json, models.dev's api.json,
    /// or crossbar's prices.json shape) into the store. Prints what would change; writes only
    /// with --apply.
    Update {
        /// The price file.
        #[arg(long = "from")]
        file: PathBuf,
        /// Write the changes (without it, nothing changes).
        #[arg(long)]
        apply: bool,
    },
    /// Recompute the cost of recorded usage in a period with the prices now. Prints the totals
    /// before and after; writes (and records an audit row) only with --apply.
    Reprice {
        /// From this date (YYYY-MM-DD, UTC) or unix time.
        #[arg(long)]
        from: String,
        /// Up to (not including) this date.
        #[arg(long)]
        to: String,
        #[arg(long)]
        apply: bool,
    },
    /// The re-pricings applied so far.
    History,
}
