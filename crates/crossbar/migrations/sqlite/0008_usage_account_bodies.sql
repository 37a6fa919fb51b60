-- The usage page grouped by pooled account, its model/provider/account groups read from a
-- small rollup, and opt-in body capture (issue 10). usage_hourly has a row per hour × key ×
-- model × provider × protocol × status class, nearly one per record with many keys, so grouping a
-- month of it by model scanned most of it (0.9–2 s at 1M records, docs/benchmarks.md).

-- The pooled ChatGPT account that served the request (its id); NULL when no pool did.
ALTER TABLE usage ADD COLUMN account TEXT;

-- One row per hour × model × provider × account ('' when none): a few rows per hour however
-- many keys send. The same sums and histograms as usage_hourly.
CREATE TABLE usage_hourly_route (
    hour               BIGINT NOT NULL,
    model              TEXT NOT NULL,
    provider           TEXT NOT NULL,
    account            TEXT NOT NULL,
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
    PRIMARY KEY (hour, model, provider, account)
);

-- Rows recorded before this migration: their account is not known ('').
INSERT INTO usage_hourly_route (hour, model, provider, account, requests, errors, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens, cache_input_tokens, cost_usd, latency_sum, ttft_sum, ttft_count, lat_b0, lat_b1, lat_b2, lat_b3, lat_b4, lat_b5, lat_b6, lat_b7, lat_b8, lat_b9, lat_b10, lat_b11, ttft_b0, ttft_b1, ttft_b2, ttft_b3, ttft_b4, ttft_b5, ttft_b6, ttft_b7, ttft_b8, ttft_b9, ttft_b10, ttft_b11)
SELECT hour, model, provider, '', SUM(requests), SUM(errors), SUM(input_tokens), SUM(output_tokens), SUM(cache_read_tokens), SUM(cache_write_tokens), SUM(reasoning_tokens), SUM(cache_input_tokens), SUM(cost_usd), SUM(latency_sum), SUM(ttft_sum), SUM(ttft_count), SUM(lat_b0), SUM(lat_b1), SUM(lat_b2), SUM(lat_b3), SUM(lat_b4), SUM(lat_b5), SUM(lat_b6), SUM(lat_b7), SUM(lat_b8), SUM(lat_b9), SUM(lat_b10), SUM(lat_b11), SUM(ttft_b0), SUM(ttft_b1), SUM(ttft_b2), SUM(ttft_b3), SUM(ttft_b4), SUM(ttft_b5), SUM(ttft_b6), SUM(ttft_b7), SUM(ttft_b8), SUM(ttft_b9), SUM(ttft_b10), SUM(ttft_b11)
FROM usage_hourly GROUP BY hour, model, provider;

-- One key's models and providers (a member's view, /admin/usage?key=) read usage_hourly by key.
CREATE INDEX usage_hourly_key_id ON usage_hourly (key_id, hour);

-- [storage] capture_bodies (off by default): a request's and its response's first 64 KiB,
-- redacted of credentials, by request id; purged after capture_retention_days.
CREATE TABLE usage_bodies (
    request_id         TEXT PRIMARY KEY,
    ts                 BIGINT NOT NULL,
    request            TEXT NOT NULL,
    response           TEXT NOT NULL,
    request_truncated  BIGINT NOT NULL DEFAULT 0,
    response_truncated BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX usage_bodies_ts ON usage_bodies (ts);
