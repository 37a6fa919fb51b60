//! What happened to one request, recorded exactly once when its response body ends — or is
//! dropped because the client went away. Streams are recorded when they end, including on
//! disconnect. It also finishes the request's `record::Ticket` (usage record + limit
//! settlement), when there is one.

use crate::app::AppState;
use crate::telemetry::{status_class, ProtocolLabels, RequestLabels};
use crate::usage::cache_verdict::reported_reads;
use crossbar_protocol::canonical::{Protocol, Usage};
use std::sync::Arc;
use std::time::Instant;

pub struct Outcome {
    state: Arc<AppState>,
    client: Protocol,
    provider: String,
    started: Instant,
    status: u16,
    stream: bool,
    first_byte: bool,
    pub usage: Usage,
    ticket: Option<Arc<super::record::Ticket>>,
    ttft: Option<std::time::Duration>,
    error_class: Option<&'static str>,
    /// The stream reached its end (false when the client went away first).
    ended: bool,
    /// Output tokens estimated from what was sent, for when the upstream reports none.
    output_estimate: u64,
}

impl Outcome {
    pub fn new(
        state: Arc<AppState>,
        client: Protocol,
        provider: &str,
        started: Instant,
        status: u16,
        stream: bool,
    ) -> Outcome {
        let ticket = super::record::claim();
        if stream {
            state.metrics.inflight_streams.inc();
            if let Some(t) = &ticket {
                t.fingerprint_soon();
            }
        }
        Outcome {
            state,
            client,
            provider: provider.to_string(),
            started,
            status,
            stream,
            first_byte: false,
            usage: Usage::default(),
            ticket,
            ttft: None,
            error_class: None,
            ended: false,
            output_estimate: 0,
        }
    }

    /// Output tokens estimated from what went to the client (relayed events, translated text,
    /// a body's length): recorded, marked as an estimate, only when the upstream reported none.
    pub fn set_output_estimate(&mut self, tokens: u64) {
        self.output_estimate = tokens;
    }

    /// Text sent on a translated stream: about four characters a token.
    pub fn add_output_chars(&mut self, chars: usize) {
        self.output_estimate = self.output_estimate.saturating_add((chars as u64).div_ceil(4));
    }

    /// Call with what goes to the client; the first call records time-to-first-byte.
    pub fn sent_bytes(&mut self, chunk: &[u8]) {
        if let Some(t) = &self.ticket {
            t.capture_response(chunk);
        }
        if !self.first_byte {
            self.first_byte = true;
            self.ttft = Some(self.started.elapsed());
            self.state
                .metrics
                .first_byte
                .get_or_create(&ProtocolLabels { client_protocol: self.client.name() })
                .observe(self.started.elapsed().as_secs_f64());
        }
    }

    pub fn set_usage(&mut self, usage: crossbar_protocol::canonical::Usage) {
        self.usage = usage;
    }

    /// The stream was sent to its end.
    pub fn ended(&mut self) {
        self.ended = true;
    }

    /// The stream ended in an error after it started (the status sent stays 200).
    pub fn failed_midstream(&mut self, kind: &'static str) {
        self.error_class = Some(kind);
        self.state
            .metrics
            .upstream_errors
            .get_or_create(&crate::telemetry::UpstreamErrorLabels { provider: self.provider.clone(), kind })
            .inc();
    }
}

impl Drop for Outcome {
    fn drop(&mut self) {
        if self.stream && !self.ended && self.error_class.is_none() {
            // The client went away mid-stream: 499, with the tokens known so far.
            self.error_class = Some("client_disconnect");
            self.status = super::record::CLIENT_GONE;
        }
        let m = &self.state.metrics;
        if self.stream {
            m.inflight_streams.dec();
        }
        m.requests
            .get_or_create(&RequestLabels {
                client_protocol: self.client.name(),
                provider: self.provider.clone(),
                status: status_class(self.status),
            })
            .inc();
        m.duration
            .get_or_create(&ProtocolLabels { client_protocol: self.client.name() })
            .observe(self.started.elapsed().as_secs_f64());
        // Gemini's absent cache reads are 0 in the metrics as in the record (`reported_reads`).
        let upstream = self.ticket.as_ref().and_then(|t| t.upstream_protocol());
        let reads = upstream.map_or(self.usage.cache_read, |p| reported_reads(p, &self.usage));
        m.record_usage(&self.provider, &Usage { cache_read: reads, ..self.usage });
        if let Some(t) = self.ticket.take() {
            t.estimate_output(self.output_estimate);
            t.finish(self.status, &self.usage, self.ttft, self.error_class.map(str::to_string));
        }
        tracing::debug!(
            client = self.client.name(),
            provider = %self.provider,
            status = self.status,
            ms = self.started.elapsed().as_millis() as u64,
            input = self.usage.input,
            output = self.usage.output,
            "request done"
        );
    }
}
