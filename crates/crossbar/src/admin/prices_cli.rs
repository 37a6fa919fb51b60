//! `crossbar prices …`: the price table in effect, loading a price file into the store, and
//! re-pricing recorded usage, on the configured store directly (no running gateway needed;
//! running gateways pick store prices up within two seconds).

use crate::catalog::{import, update, Catalog};
use crate::cli::PricesCommand;
use crate::config::{self, Config};
use crate::limits::period::{format, parse_date};
use anyhow::{anyhow, Context};
use std::path::PathBuf;

pub async fn prices(config: Option<PathBuf>, command: PricesCommand) -> anyhow::Result<()> {
    let config = match config {
        Some(p) => Config::load(&p).map_err(|e| anyhow!("{e}"))?,
        None => config::defaults::embedded(),
    };
    let store = crate::app::open_store(&config)?;
    store.ready().await.with_context(|| store.label.clone())?;
    let catalog = Catalog::new(config.catalog.clone());
    crate::catalog::refresh::load(&catalog, &store).await?;
    let p = |v: Option<f64>| v.map_or_else(|| "-".to_string(), |v| format!("{v}"));
    match command {
        PricesCommand::List => {
            let rows: Vec<Vec<String>> = catalog
                .effective()
                .into_iter()
                .map(|(i, s)| {
                    let long = i.long_context.as_ref().map_or_else(
                        || "-".to_string(),
                        |l| format!(">{}: {}/{}", l.above_tokens, p(l.input), p(l.output)),
                    );
                    vec![
                        i.model.clone(),
                        p(i.input_price),
                        p(i.output_price),
                        p(i.cached_input_price),
                        p(i.cache_write_price),
                        long,
                        s.name().to_string(),
                    ]
                })
                .collect();
            super::cli::table(
                &["MODEL", "INPUT", "OUTPUT", "CACHE_READ", "CACHE_WRITE", "LONG_CONTEXT", "SOURCE"],
                &rows,
            );
        }
        PricesCommand::Update { file, apply } => {
            let text = std::fs::read_to_string(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let u = update::update(&catalog, &store, &text, apply).await?;
            for c in &u.changes {
                println!("{}", import::describe(c));
            }
            let verb = if apply { "updated" } else { "would update (run again with --apply to write)" };
            eprintln!(
                "{}: {} priced rows ({}); {} {} model(s), the rest unchanged",
                file.display(),
                u.rows,
                u.format.name(),
                verb,
                u.changes.len()
            );
        }
        PricesCommand::Reprice { from, to, apply } => {
            let date = |s: &str| parse_date(s).ok_or_else(|| anyhow!("{s:?} is not YYYY-MM-DD or unix seconds"));
            let (from, to) = (date(&from)?, date(&to)?);
            if from >= to {
                anyhow::bail!("--from must be before --to");
            }
            let r = update::reprice(&catalog, &store, from, to, apply).await?;
            println!(
                "{} – {}: {} rows, {} re-priced, {} without a price now (kept); total ${:.6} → ${:.6}",
                format(from),
                format(to),
                r.rows,
                r.changed,
                r.unpriced,
                r.old_total,
                r.new_total
            );
            if !apply {
                eprintln!("nothing written: run again with --apply to re-price (an audit row records it)");
            }
        }
        PricesCommand::History => {
            let rows: Vec<Vec<String>> = store
                .reprice_audit()
                .await?
                .into_iter()
                .map(|a| {
                    vec![
                        a.ts.to_string(),
                        format(a.from),
                        format(a.to),
                        a.rows_changed.to_string(),
                        format!("{:.6}", a.old_total),
                        format!("{:.6}", a.new_total),
                    ]
                })
                .collect();
            super::cli::table(&["AT_MS", "FROM", "TO", "ROWS", "OLD_TOTAL", "NEW_TOTAL"], &rows);
        }
    }
    store.close().await;
    Ok(())
}
