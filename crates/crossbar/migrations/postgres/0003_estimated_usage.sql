-- 1 when the record's tokens (some or all) are crossbar's estimate because the upstream
-- reported none (a stream cut short, a server without usage, a client that hung up).
ALTER TABLE usage ADD COLUMN tokens_estimated BIGINT NOT NULL DEFAULT 0;
