//! Usage records off the hot path: `Recorder::record` puts a `UsageRecord` on a bounded
//! channel; one writer task batches them into the store every `flush interval` (or sooner
//! when a batch is full); `Recorder::close` (graceful shutdown) flushes everything left.
//!
//! A full channel is counted (`crossbar_usage_channel_full`) and the record goes to an
//! overflow list of the same bound that the writer empties with its next batch (no task per
//! record); only past both bounds is a record dropped, counted in
//! `crossbar_usage_write_failures` and logged — never silently. A failed batch write
//! is retried; a batch that still cannot be written is counted in
//! `crossbar_usage_write_failures` and logged with its size. A `kill -9` loses at most the
//! records of the last flush interval (they are in memory only).
//!
//! After each committed batch the writer bumps a generation counter (`Recorder::written`, a
//! `watch`): the dashboard's live overview waits on it, so the request path pays nothing.

pub mod cache_diagnostics;
pub mod cache_prompt;
pub mod cache_shared;
pub mod cache_turns;
pub mod cache_verdict;
pub mod capture;
pub mod client;
pub mod pricing;
pub mod retention;

use crate::store::{Store, UsageRecord};
use crate::telemetry::Metrics;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

/// Largest batch written at once.
const BATCH: usize = 2_000;

pub struct Recorder {
    tx: mpsc::Sender<UsageRecord>,
    /// Records that found the channel full, taken by the writer with its next batch.
    overflow: Arc<Mutex<Vec<UsageRecord>>>,
    capacity: usize,
    metrics: Arc<UsageMetrics>,
    closing: watch::Sender<bool>,
    /// Committed batches so far (bumped by the writer after each commit).
    written: watch::Sender<u64>,
    writer: Mutex<Option<JoinHandle<()>>>,
}

/// The recorder's counters, shared with the writer task.
#[derive(Default)]
pub struct UsageMetrics {
    pub channel_full: prometheus_client::metrics::counter::Counter,
    pub write_failures: prometheus_client::metrics::counter::Counter,
    pub written: prometheus_client::metrics::counter::Counter,
}

impl Recorder {
    /// Start the writer task (needs a tokio runtime).
    pub fn start(store: Store, capacity: usize, flush: Duration, metrics: &Metrics) -> Recorder {
        let capacity = capacity.max(1);
        let (tx, rx) = mpsc::channel(capacity);
        let (closing, closed) = watch::channel(false);
        let m = metrics.usage.clone();
        let overflow = Arc::new(Mutex::new(Vec::new()));
        let written = watch::Sender::new(0);
        let out = Out { metrics: m.clone(), written: written.clone() };
        let writer = tokio::spawn(write_loop(store, rx, overflow.clone(), closed, flush, out));
        Recorder { tx, overflow, capacity, metrics: m, closing, written, writer: Mutex::new(Some(writer)) }
    }

    /// Changes after every batch this instance commits (other instances' writes are not seen).
    pub fn written(&self) -> watch::Receiver<u64> {
        self.written.subscribe()
    }

    pub fn record(&self, r: UsageRecord) {
        match self.tx.try_send(r) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(r)) => {
                self.metrics.channel_full.inc();
                let mut overflow = self.overflow.lock().unwrap_or_else(|e| e.into_inner());
                if overflow.len() < self.capacity {
                    overflow.push(r);
                } else {
                    self.metrics.write_failures.inc();
                    tracing::error!("usage record lost: the recorder queue and its overflow are full");
                }
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                self.metrics.write_failures.inc();
                tracing::error!("usage record lost: the recorder is closed");
            }
        }
    }

    /// Records waiting in the queue (the backlog).
    pub fn queued(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }

    /// Write everything still queued, then stop the writer. Idempotent.
    pub async fn close(&self) {
        let _ = self.closing.send(true);
        let handle = self.writer.lock().ok().and_then(|mut w| w.take());
        if let Some(h) = handle {
            let _ = h.await;
        }
    }
}

async fn write_loop(
    store: Store,
    mut rx: mpsc::Receiver<UsageRecord>,
    overflow: Arc<Mutex<Vec<UsageRecord>>>,
    mut closed: watch::Receiver<bool>,
    flush: Duration,
    m: Out,
) {
    let mut batch = Vec::with_capacity(BATCH);
    loop {
        // Wait for the first record of a batch (or the close signal).
        let first = tokio::select! {
            r = rx.recv() => r,
            _ = closed.wait_for(|c| *c) => None,
        };
        let Some(first) = first else { break };
        batch.push(first);
        let deadline = tokio::time::Instant::now() + flush;
        while batch.len() < BATCH {
            tokio::select! {
                r = rx.recv() => match r {
                    Some(r) => batch.push(r),
                    None => break,
                },
                _ = tokio::time::sleep_until(deadline) => break,
                _ = closed.wait_for(|c| *c) => break,
            }
        }
        take_overflow(&overflow, &mut batch);
        write(&store, &mut batch, &m).await;
        if *closed.borrow() {
            break;
        }
    }
    // Closing: take what is queued, then refuse more.
    rx.close();
    while let Some(r) = rx.recv().await {
        batch.push(r);
        if batch.len() >= BATCH {
            write(&store, &mut batch, &m).await;
        }
    }
    take_overflow(&overflow, &mut batch);
    write(&store, &mut batch, &m).await;
}

/// Move the records that found the channel full into the batch (they are older than what
/// the channel holds now, but every record carries its own time).
fn take_overflow(overflow: &Mutex<Vec<UsageRecord>>, batch: &mut Vec<UsageRecord>) {
    let mut o = overflow.lock().unwrap_or_else(|e| e.into_inner());
    batch.append(&mut o);
}

/// What the writer reports to: the counters and the committed-batch signal.
struct Out {
    metrics: Arc<UsageMetrics>,
    written: watch::Sender<u64>,
}

async fn write(store: &Store, batch: &mut Vec<UsageRecord>, out: &Out) {
    let m = &out.metrics;
    if batch.is_empty() {
        return;
    }
    // Captured bodies are redacted here, off the request path.
    for c in batch.iter_mut().filter_map(|r| r.capture.as_deref_mut()) {
        c.redact();
    }
    for attempt in 0..3u32 {
        match store.insert_usage(batch).await {
            Ok(()) => {
                m.written.inc_by(batch.len() as u64);
                batch.clear();
                out.written.send_modify(|n| *n = n.wrapping_add(1));
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, records = batch.len(), attempt, "writing usage records failed");
                tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
            }
        }
    }
    m.write_failures.inc_by(batch.len() as u64);
    tracing::error!(records = batch.len(), "usage records could not be written and are lost");
    batch.clear();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(n: i64) -> UsageRecord {
        UsageRecord { ts: n, model: "m".into(), protocol_in: "openai-chat", status: 200, ..UsageRecord::default() }
    }

    #[tokio::test]
    async fn a_full_queue_overflows_into_the_next_batch_then_counts_what_it_drops() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(None, dir.path()).expect("store");
        store.ready().await.expect("ready");
        let metrics = Metrics::new();
        // One thread and no await between the calls: the writer takes nothing meanwhile.
        let rec = Recorder::start(store.clone(), 2, Duration::from_secs(60), &metrics);
        for n in 0..5 {
            rec.record(record(n));
        }
        // 2 in the channel, 2 in the overflow, 1 dropped and counted (no task per record).
        assert_eq!(metrics.usage.channel_full.get(), 3);
        assert_eq!(metrics.usage.write_failures.get(), 1);
        rec.close().await;
        assert_eq!(store.usage_count().await.expect("count"), 4);
    }

    #[tokio::test]
    async fn each_committed_batch_is_signalled_after_its_rows_are_readable() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(None, dir.path()).expect("store");
        store.ready().await.expect("ready");
        let metrics = Metrics::new();
        let rec = Recorder::start(store.clone(), 16, Duration::from_millis(5), &metrics);
        let mut written = rec.written();
        assert_eq!(*written.borrow_and_update(), 0);
        rec.record(record(1));
        written.changed().await.expect("signalled");
        assert_eq!(store.usage_count().await.expect("count"), 1, "the signal follows the commit");
        rec.record(record(2));
        written.changed().await.expect("signalled again");
        assert_eq!(*written.borrow(), 2);
        rec.close().await;
    }
}
