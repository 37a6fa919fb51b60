-- Prices loaded with `crossbar prices update` or /admin/prices/apply (USD per million
-- tokens). They override the built-in table; `[[catalog]]` in the config overrides both.
-- long_* is the tier for requests whose input is above long_above_tokens.
CREATE TABLE model_prices (
    model                  TEXT PRIMARY KEY,
    context_window         BIGINT,
    max_output_tokens      BIGINT,
    input_price            DOUBLE PRECISION,
    output_price           DOUBLE PRECISION,
    cache_read_price       DOUBLE PRECISION,
    cache_write_price      DOUBLE PRECISION,
    long_above_tokens      BIGINT,
    long_input_price       DOUBLE PRECISION,
    long_output_price      DOUBLE PRECISION,
    long_cache_read_price  DOUBLE PRECISION,
    long_cache_write_price DOUBLE PRECISION,
    source                 TEXT NOT NULL,
    updated_at             BIGINT NOT NULL
);

-- Each re-pricing of recorded usage (`crossbar prices reprice --apply`): when, the range
-- [from_ts, to_ts), how many rows changed, and the range's total cost before and after.
CREATE TABLE usage_reprices (
    id BIGSERIAL PRIMARY KEY,
    ts         BIGINT NOT NULL,
    from_ts    BIGINT NOT NULL,
    to_ts      BIGINT NOT NULL,
    rows_changed BIGINT NOT NULL,
    old_total  DOUBLE PRECISION NOT NULL,
    new_total  DOUBLE PRECISION NOT NULL
);
