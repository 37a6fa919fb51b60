-- Client keys: the public id and a SHA-256 of the secret, never the secret itself.
-- Times are unix milliseconds (UTC) in both backends.
CREATE TABLE keys (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    secret_sha256 TEXT NOT NULL,
    rpm           BIGINT,
    tpm           BIGINT,
    max_parallel  BIGINT,
    budget_usd    DOUBLE PRECISION,
    budget_period TEXT NOT NULL DEFAULT 'total',
    models        TEXT,
    expires_at    BIGINT,
    revoked_at    BIGINT,
    created_at    BIGINT NOT NULL
);

-- One row per client request.
CREATE TABLE usage (
    id                 BIGSERIAL PRIMARY KEY,
    ts                 BIGINT NOT NULL,
    key_id             TEXT,
    model              TEXT NOT NULL,
    provider           TEXT,
    upstream_model     TEXT,
    protocol_in        TEXT NOT NULL,
    protocol_out       TEXT,
    input_tokens       BIGINT,
    output_tokens      BIGINT,
    cache_read_tokens  BIGINT,
    cache_write_tokens BIGINT,
    reasoning_tokens   BIGINT,
    cost_usd           DOUBLE PRECISION,
    latency_ms         BIGINT NOT NULL,
    ttft_ms            BIGINT,
    status             BIGINT NOT NULL,
    error_class        TEXT
);
CREATE INDEX usage_ts ON usage (ts);
CREATE INDEX usage_key_ts ON usage (key_id, ts);
