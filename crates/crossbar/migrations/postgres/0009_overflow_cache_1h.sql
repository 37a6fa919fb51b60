-- Overflow routing and 1-hour prompt-cache writes (issue 15).

-- Which side of its route served the request: 'primary' (the subscription pool) or
-- 'overflow' (the API-key deployments used once every pooled account is exhausted); NULL
-- when the route has no overflow.
ALTER TABLE usage ADD COLUMN route_side TEXT;

-- The part of cache_write_tokens written with a 1-hour TTL (Anthropic's
-- usage.cache_creation.ephemeral_1h_input_tokens), priced apart from 5-minute writes.
ALTER TABLE usage ADD COLUMN cache_write_1h_tokens BIGINT;

-- USD per million 1-hour cache-write tokens (LiteLLM's cache_creation_input_token_cost_above_1hr).
ALTER TABLE model_prices ADD COLUMN cache_write_1h_price DOUBLE PRECISION;
ALTER TABLE model_prices ADD COLUMN long_cache_write_1h_price DOUBLE PRECISION;
