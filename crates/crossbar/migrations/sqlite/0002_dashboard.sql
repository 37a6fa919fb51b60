-- The dashboard (issue 10): per-request detail on usage rows, hourly rollups kept in the
-- same transaction as each usage batch, and dashboard sign-in sessions.

-- Request id (sent to the client as x-crossbar-request-id), client (from the User-Agent),
-- the attempt chain (JSON array), parameters translation dropped, and the refusal rule.
ALTER TABLE usage ADD COLUMN request_id TEXT;
ALTER TABLE usage ADD COLUMN client TEXT;
ALTER TABLE usage ADD COLUMN attempts TEXT;
ALTER TABLE usage ADD COLUMN dropped TEXT;
ALTER TABLE usage ADD COLUMN refusal TEXT;
-- The request log pages with (ts, id) keysets; each filter has its own (column, ts) index.
CREATE INDEX usage_ts_id ON usage (ts, id);
CREATE INDEX usage_model_ts ON usage (model, ts);
CREATE INDEX usage_provider_ts ON usage (provider, ts);
CREATE INDEX usage_status_ts ON usage (status, ts);
CREATE INDEX usage_client_ts ON usage (client, ts);
CREATE INDEX usage_request_id ON usage (request_id);

-- One row per hour (unix ms, UTC) and group. Unknown key/provider are '' so the primary key
-- can be an upsert target. status_class: ok, 4xx, 499, 5xx. Latency and TTFT histograms are
-- fixed log buckets (upper bounds 50, 100, 200 … 51200 ms, then everything above).
CREATE TABLE usage_hourly (
    hour               BIGINT NOT NULL,
    key_id             TEXT NOT NULL,
    model              TEXT NOT NULL,
    provider           TEXT NOT NULL,
    protocol_in        TEXT NOT NULL,
    status_class       TEXT NOT NULL,
    requests           BIGINT NOT NULL DEFAULT 0,
    errors             BIGINT NOT NULL DEFAULT 0,
    input_tokens       BIGINT NOT NULL DEFAULT 0,
    output_tokens      BIGINT NOT NULL DEFAULT 0,
    cache_read_tokens  BIGINT NOT NULL DEFAULT 0,
    cache_write_tokens BIGINT NOT NULL DEFAULT 0,
    reasoning_tokens   BIGINT NOT NULL DEFAULT 0,
    -- input tokens of the requests whose provider reported a cache-read count (the hit rate's base)
    cache_input_tokens BIGINT NOT NULL DEFAULT 0,
    cost_usd           DOUBLE PRECISION NOT NULL DEFAULT 0,
    latency_sum        BIGINT NOT NULL DEFAULT 0,
    ttft_sum           BIGINT NOT NULL DEFAULT 0,
    ttft_count         BIGINT NOT NULL DEFAULT 0,
    lat_b0      BIGINT NOT NULL DEFAULT 0,
    lat_b1      BIGINT NOT NULL DEFAULT 0,
    lat_b2      BIGINT NOT NULL DEFAULT 0,
    lat_b3      BIGINT NOT NULL DEFAULT 0,
    lat_b4      BIGINT NOT NULL DEFAULT 0,
    lat_b5      BIGINT NOT NULL DEFAULT 0,
    lat_b6      BIGINT NOT NULL DEFAULT 0,
    lat_b7      BIGINT NOT NULL DEFAULT 0,
    lat_b8      BIGINT NOT NULL DEFAULT 0,
    lat_b9      BIGINT NOT NULL DEFAULT 0,
    lat_b10      BIGINT NOT NULL DEFAULT 0,
    lat_b11      BIGINT NOT NULL DEFAULT 0,
    ttft_b0     BIGINT NOT NULL DEFAULT 0,
    ttft_b1     BIGINT NOT NULL DEFAULT 0,
    ttft_b2     BIGINT NOT NULL DEFAULT 0,
    ttft_b3     BIGINT NOT NULL DEFAULT 0,
    ttft_b4     BIGINT NOT NULL DEFAULT 0,
    ttft_b5     BIGINT NOT NULL DEFAULT 0,
    ttft_b6     BIGINT NOT NULL DEFAULT 0,
    ttft_b7     BIGINT NOT NULL DEFAULT 0,
    ttft_b8     BIGINT NOT NULL DEFAULT 0,
    ttft_b9     BIGINT NOT NULL DEFAULT 0,
    ttft_b10     BIGINT NOT NULL DEFAULT 0,
    ttft_b11     BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (hour, key_id, model, provider, protocol_in, status_class)
);

-- Rollups of the rows already recorded before this migration.
INSERT INTO usage_hourly (hour, key_id, model, provider, protocol_in, status_class, requests, errors, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens, cache_input_tokens, cost_usd, latency_sum, ttft_sum, ttft_count, lat_b0, lat_b1, lat_b2, lat_b3, lat_b4, lat_b5, lat_b6, lat_b7, lat_b8, lat_b9, lat_b10, lat_b11, ttft_b0, ttft_b1, ttft_b2, ttft_b3, ttft_b4, ttft_b5, ttft_b6, ttft_b7, ttft_b8, ttft_b9, ttft_b10, ttft_b11)
SELECT (ts / 3600000) * 3600000,
       COALESCE(key_id, ''),
       model,
       COALESCE(provider, ''),
       protocol_in,
       CASE WHEN status = 499 THEN '499' WHEN status >= 500 THEN '5xx' WHEN status >= 400 THEN '4xx' ELSE 'ok' END,
       COUNT(*),
       SUM(CASE WHEN status >= 400 THEN 1 ELSE 0 END),
       SUM(COALESCE(input_tokens, 0)),
       SUM(COALESCE(output_tokens, 0)),
       SUM(COALESCE(cache_read_tokens, 0)),
       SUM(COALESCE(cache_write_tokens, 0)),
       SUM(COALESCE(reasoning_tokens, 0)),
       SUM(CASE WHEN cache_read_tokens IS NOT NULL THEN COALESCE(input_tokens, 0) ELSE 0 END),
       SUM(COALESCE(cost_usd, 0)),
       SUM(latency_ms),
       SUM(COALESCE(ttft_ms, 0)),
       SUM(CASE WHEN ttft_ms IS NOT NULL THEN 1 ELSE 0 END),
       SUM(CASE WHEN latency_ms <= 50 THEN 1 ELSE 0 END),
       SUM(CASE WHEN latency_ms > 50 AND latency_ms <= 100 THEN 1 ELSE 0 END),
       SUM(CASE WHEN latency_ms > 100 AND latency_ms <= 200 THEN 1 ELSE 0 END),
       SUM(CASE WHEN latency_ms > 200 AND latency_ms <= 400 THEN 1 ELSE 0 END),
       SUM(CASE WHEN latency_ms > 400 AND latency_ms <= 800 THEN 1 ELSE 0 END),
       SUM(CASE WHEN latency_ms > 800 AND latency_ms <= 1600 THEN 1 ELSE 0 END),
       SUM(CASE WHEN latency_ms > 1600 AND latency_ms <= 3200 THEN 1 ELSE 0 END),
       SUM(CASE WHEN latency_ms > 3200 AND latency_ms <= 6400 THEN 1 ELSE 0 END),
       SUM(CASE WHEN latency_ms > 6400 AND latency_ms <= 12800 THEN 1 ELSE 0 END),
       SUM(CASE WHEN latency_ms > 12800 AND latency_ms <= 25600 THEN 1 ELSE 0 END),
       SUM(CASE WHEN latency_ms > 25600 AND latency_ms <= 51200 THEN 1 ELSE 0 END),
       SUM(CASE WHEN latency_ms > 51200 THEN 1 ELSE 0 END),
       SUM(CASE WHEN ttft_ms <= 50 THEN 1 ELSE 0 END),
       SUM(CASE WHEN ttft_ms > 50 AND ttft_ms <= 100 THEN 1 ELSE 0 END),
       SUM(CASE WHEN ttft_ms > 100 AND ttft_ms <= 200 THEN 1 ELSE 0 END),
       SUM(CASE WHEN ttft_ms > 200 AND ttft_ms <= 400 THEN 1 ELSE 0 END),
       SUM(CASE WHEN ttft_ms > 400 AND ttft_ms <= 800 THEN 1 ELSE 0 END),
       SUM(CASE WHEN ttft_ms > 800 AND ttft_ms <= 1600 THEN 1 ELSE 0 END),
       SUM(CASE WHEN ttft_ms > 1600 AND ttft_ms <= 3200 THEN 1 ELSE 0 END),
       SUM(CASE WHEN ttft_ms > 3200 AND ttft_ms <= 6400 THEN 1 ELSE 0 END),
       SUM(CASE WHEN ttft_ms > 6400 AND ttft_ms <= 12800 THEN 1 ELSE 0 END),
       SUM(CASE WHEN ttft_ms > 12800 AND ttft_ms <= 25600 THEN 1 ELSE 0 END),
       SUM(CASE WHEN ttft_ms > 25600 AND ttft_ms <= 51200 THEN 1 ELSE 0 END),
       SUM(CASE WHEN ttft_ms > 51200 THEN 1 ELSE 0 END)
FROM usage GROUP BY 1, 2, 3, 4, 5, 6;

-- The same sums per hour and key only: what the overview reads (totals and series, refreshed
-- live), a few rows per hour however many models and providers the traffic spreads over.
CREATE TABLE usage_hourly_key (
    hour               BIGINT NOT NULL,
    key_id             TEXT NOT NULL,
    requests           BIGINT NOT NULL DEFAULT 0,
    errors             BIGINT NOT NULL DEFAULT 0,
    input_tokens       BIGINT NOT NULL DEFAULT 0,
    output_tokens      BIGINT NOT NULL DEFAULT 0,
    cache_read_tokens  BIGINT NOT NULL DEFAULT 0,
    cache_write_tokens BIGINT NOT NULL DEFAULT 0,
    reasoning_tokens   BIGINT NOT NULL DEFAULT 0,
    cache_input_tokens BIGINT NOT NULL DEFAULT 0,
    cost_usd           DOUBLE PRECISION NOT NULL DEFAULT 0,
    latency_sum        BIGINT NOT NULL DEFAULT 0,
    ttft_sum           BIGINT NOT NULL DEFAULT 0,
    ttft_count         BIGINT NOT NULL DEFAULT 0,
    lat_b0             BIGINT NOT NULL DEFAULT 0,
    lat_b1             BIGINT NOT NULL DEFAULT 0,
    lat_b2             BIGINT NOT NULL DEFAULT 0,
    lat_b3             BIGINT NOT NULL DEFAULT 0,
    lat_b4             BIGINT NOT NULL DEFAULT 0,
    lat_b5             BIGINT NOT NULL DEFAULT 0,
    lat_b6             BIGINT NOT NULL DEFAULT 0,
    lat_b7             BIGINT NOT NULL DEFAULT 0,
    lat_b8             BIGINT NOT NULL DEFAULT 0,
    lat_b9             BIGINT NOT NULL DEFAULT 0,
    lat_b10            BIGINT NOT NULL DEFAULT 0,
    lat_b11            BIGINT NOT NULL DEFAULT 0,
    ttft_b0            BIGINT NOT NULL DEFAULT 0,
    ttft_b1            BIGINT NOT NULL DEFAULT 0,
    ttft_b2            BIGINT NOT NULL DEFAULT 0,
    ttft_b3            BIGINT NOT NULL DEFAULT 0,
    ttft_b4            BIGINT NOT NULL DEFAULT 0,
    ttft_b5            BIGINT NOT NULL DEFAULT 0,
    ttft_b6            BIGINT NOT NULL DEFAULT 0,
    ttft_b7            BIGINT NOT NULL DEFAULT 0,
    ttft_b8            BIGINT NOT NULL DEFAULT 0,
    ttft_b9            BIGINT NOT NULL DEFAULT 0,
    ttft_b10           BIGINT NOT NULL DEFAULT 0,
    ttft_b11           BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (hour, key_id)
);
CREATE INDEX usage_hourly_key_key ON usage_hourly_key (key_id, hour);
INSERT INTO usage_hourly_key (hour, key_id, requests, errors, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens, cache_input_tokens, cost_usd, latency_sum, ttft_sum, ttft_count, lat_b0, lat_b1, lat_b2, lat_b3, lat_b4, lat_b5, lat_b6, lat_b7, lat_b8, lat_b9, lat_b10, lat_b11, ttft_b0, ttft_b1, ttft_b2, ttft_b3, ttft_b4, ttft_b5, ttft_b6, ttft_b7, ttft_b8, ttft_b9, ttft_b10, ttft_b11)
SELECT hour, key_id, SUM(requests), SUM(errors), SUM(input_tokens), SUM(output_tokens), SUM(cache_read_tokens), SUM(cache_write_tokens), SUM(reasoning_tokens), SUM(cache_input_tokens), SUM(cost_usd), SUM(latency_sum), SUM(ttft_sum), SUM(ttft_count), SUM(lat_b0), SUM(lat_b1), SUM(lat_b2), SUM(lat_b3), SUM(lat_b4), SUM(lat_b5), SUM(lat_b6), SUM(lat_b7), SUM(lat_b8), SUM(lat_b9), SUM(lat_b10), SUM(lat_b11), SUM(ttft_b0), SUM(ttft_b1), SUM(ttft_b2), SUM(ttft_b3), SUM(ttft_b4), SUM(ttft_b5), SUM(ttft_b6), SUM(ttft_b7), SUM(ttft_b8), SUM(ttft_b9), SUM(ttft_b10), SUM(ttft_b11)
FROM usage_hourly GROUP BY hour, key_id;

-- Dashboard sessions: only the SHA-256 of the cookie's random id is kept.
CREATE TABLE ui_sessions (
    id_sha256  TEXT PRIMARY KEY,
    role       TEXT NOT NULL,
    key_id     TEXT,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX ui_sessions_expires ON ui_sessions (expires_at);
