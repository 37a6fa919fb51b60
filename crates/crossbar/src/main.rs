use clap::Parser;
use crossbar::cli::{Cli, Command};
use crossbar::config::{self, Config};
use std::process::ExitCode;

/// jemalloc keeps freed pages for a while (10 s) instead of giving them back at once, as glibc
/// does with a large block: a 2 MB request body otherwise cost ~1,000 page faults per request,
/// most of the time a large relayed request added (ARCHITECTURE.md, Decisions).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = cli.config;
    crossbar::telemetry::init_logging();
    match cli.command {
        Command::CheckConfig { file } => match Config::load(&file) {
            Ok(c) => {
                for (alias, provider, model) in crossbar::catalog::unpriced_targets(&c) {
                    eprintln!(
                        "warning: model {alias:?} → {provider}/{model} has no price in the built-in table or \
                         [[catalog]]: its requests are recorded without a cost and budgets cannot count them \
                         (add a [[catalog]] entry, or load prices with `crossbar prices update`)"
                    );
                }
                println!("{}: ok ({} providers, {} models)", file.display(), c.providers.len(), c.models.len());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprint!("{e}");
                ExitCode::FAILURE
            }
        },
        Command::Serve { listen } => {
            let mut config = match config {
                Some(p) => match Config::load(&p) {
                    Ok(c) => c,
                    Err(e) => {
                        eprint!("{e}");
                        return ExitCode::FAILURE;
                    }
                },
                None => config::defaults::embedded(),
            };
            if let Some(l) = listen {
                match config::parse_listen(&l) {
                    Some(addr) => config.server.listen = addr,
                    None => {
                        eprintln!("--listen {l:?} is not an address like 127.0.0.1:4141");
                        return ExitCode::FAILURE;
                    }
                }
            }
            run(crossbar::server::serve(config))
        }
        Command::Setup { agent, model, key, url, print } => setup(agent, model, key, &url, print),
        Command::Doctor { url, key, model } => {
            let url = crossbar::agents::origin(&url);
            let key = key_or_default(key);
            let checks = match tokio::runtime::Runtime::new() {
                Ok(rt) => rt.block_on(crossbar::agents::doctor::run(&url, &key, model.as_deref())),
                Err(e) => {
                    eprintln!("cannot start the runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            for c in &checks {
                println!("{}", c.line());
            }
            if checks.iter().any(|c| c.ok == Some(false)) {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
        Command::Accounts { action } => match block_on(crossbar::accounts::command(config.as_deref(), action)) {
            Ok(text) => {
                print!("{text}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprint!("{e}");
                ExitCode::FAILURE
            }
        },
        Command::Keys { command } => run(crossbar::admin::cli::keys(config, command)),
        Command::Prices { command } => run(crossbar::admin::prices_cli::prices(config, command)),
        Command::Usage { group_by, from, to, key } => {
            run(crossbar::admin::cli::usage(config, &group_by, from, to, key))
        }
        Command::MockUpstream { listen } => run(async move {
            let listener = tokio::net::TcpListener::bind(&listen).await?;
            tracing::info!(addr = %listener.local_addr()?, "mock upstream listening");
            crossbar_mock::serve(listener).await?;
            Ok(())
        }),
    }
}

fn key_or_default(key: Option<String>) -> String {
    key.or_else(|| std::env::var("CROSSBAR_API_KEY").ok().filter(|k| !k.is_empty()))
        .unwrap_or_else(|| crossbar::agents::DUMMY_KEY.to_string())
}

fn setup(
    agent: crossbar::agents::Agent,
    model: Option<String>,
    key: Option<String>,
    url: &str,
    print: bool,
) -> ExitCode {
    let url = crossbar::agents::origin(url);
    // The gateway's model list: the default model, and what OpenCode declares.
    let listed = tokio::runtime::Runtime::new()
        .ok()
        .and_then(|rt| rt.block_on(crossbar::agents::doctor::models(&url, &key_or_default(key.clone()))).ok())
        .unwrap_or_default();
    let Some(model) = model.or_else(|| listed.first().cloned()) else {
        eprintln!("crossbar is not reachable at {url} (or lists no models): start it, or pass --model");
        return ExitCode::FAILURE;
    };
    let mut models = listed;
    if !models.contains(&model) {
        models.insert(0, model.clone());
    }
    let opts = crossbar::agents::setup::Options { url, key: key_or_default(key), model, models };
    match crossbar::agents::setup::run(agent, &opts, print) {
        Ok(out) => {
            print!("{out}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

/// `fut` to completion on a fresh runtime; the error text when the runtime cannot start.
fn block_on<T>(fut: impl std::future::Future<Output = Result<T, String>>) -> Result<T, String> {
    match tokio::runtime::Runtime::new() {
        Ok(rt) => rt.block_on(fut),
        Err(e) => Err(format!("cannot start the runtime: {e}\n")),
    }
}

fn run(fut: impl std::future::Future<Output = anyhow::Result<()>>) -> ExitCode {
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(fut) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("crossbar: {e:#}");
            ExitCode::FAILURE
        }
    }
}
