use clap::Parser;
use crossbar::cli::{Cli, Command};
use crossbar::config::{self, Config};
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    crossbar::telemetry::init_logging();
    match cli.command {
        Command::CheckConfig { file } => match Config::load(&file) {
            Ok(c) => {
                println!("{}: ok ({} providers, {} models)", file.display(), c.providers.len(), c.models.len());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprint!("{e}");
                ExitCode::FAILURE
            }
        },
        Command::Serve { config: path, listen } => {
            let mut config = match path {
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
        Command::Keys { config, command } => run(crossbar::admin::cli::keys(config, command)),
        Command::Usage { config, group_by, from, to, key } => run(crossbar::admin::cli::usage(config, &group_by, from, to, key)),
        Command::MockUpstream { listen } => run(async move {
            let listener = tokio::net::TcpListener::bind(&listen).await?;
            tracing::info!(addr = %listener.local_addr()?, "mock upstream listening");
            crossbar_mock::serve(listener).await?;
            Ok(())
        }),
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
