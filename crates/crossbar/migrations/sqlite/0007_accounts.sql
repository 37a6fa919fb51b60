-- ChatGPT subscription accounts (`crossbar accounts …`, /admin/accounts, the dashboard).
-- `sealed` holds the tokens (access, refresh, id token) as JSON sealed with ChaCha20-Poly1305
-- (CROSSBAR_ACCOUNTS_KEY, else the gateway key), the account id as associated data; nothing
-- secret is stored in the clear. `imported_at` names the login (a re-login replaces the row
-- with a new value); `refresh_gen` counts the token refreshes of that login, and a refresh
-- writes its tokens only over the generation it read (compare-and-swap). `lease_owner` and
-- `lease_until` (unix ms) are the refresh lease when Redis is not configured.
CREATE TABLE accounts (
    id              TEXT PRIMARY KEY,
    email           TEXT,
    sealed          TEXT NOT NULL,
    expires_at      BIGINT,
    disabled        BOOLEAN NOT NULL DEFAULT FALSE,
    last_error      TEXT,
    last_refresh    BIGINT,
    windows         TEXT NOT NULL DEFAULT '[]',
    windows_read_at BIGINT,
    imported_at     BIGINT NOT NULL,
    refresh_gen     BIGINT NOT NULL DEFAULT 0,
    lease_owner     TEXT,
    lease_until     BIGINT NOT NULL DEFAULT 0,
    updated_at      BIGINT NOT NULL
);

-- One row: bumped in the same transaction as every change of who is in the pool (added,
-- logged in again, disabled, enabled, removed), so running gateways poll one number.
CREATE TABLE accounts_version (
    id      INTEGER PRIMARY KEY,
    version BIGINT NOT NULL
);
INSERT INTO accounts_version (id, version) VALUES (1, 0);

-- Account files (<data_dir>/accounts.sealed) already imported, by the SHA-256 of their text,
-- so a file is imported once and an account removed later does not come back.
CREATE TABLE account_file_imports (
    digest      TEXT PRIMARY KEY,
    path        TEXT NOT NULL,
    accounts    BIGINT NOT NULL,
    imported_at BIGINT NOT NULL
);
