-- 0005: the credentials of the API (package access): users, API keys
-- and sessions. Numbers 0003 and 0004 belong to other changes; the
-- migrations are applied by number, each once, so a gap is allowed.
--
-- No table holds a usable secret: a user's password is an argon2id PHC
-- string, a key's secret and a session's token are SHA-256 hashes of 32
-- random bytes. Times are unix nanoseconds; 0 means never.
--
-- These tables are small and written rarely, so unlike events they use
-- NOT NULL and UNIQUE constraints freely.
CREATE TABLE users (
    id            TEXT    PRIMARY KEY,
    username      TEXT    NOT NULL UNIQUE COLLATE NOCASE, -- unique without regard to ASCII case
    tenant        TEXT    NOT NULL DEFAULT '',
    permissions   TEXT    NOT NULL DEFAULT '',            -- comma-separated, e.g. view_logs,ingest
    password_hash TEXT    NOT NULL,                       -- $argon2id$v=19$m=…,t=…,p=…$salt$hash
    created_at    INTEGER NOT NULL,
    disabled      INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE api_keys (
    id           TEXT    PRIMARY KEY,  -- the public part of alk_<id>_<secret>
    name         TEXT    NOT NULL,
    tenant       TEXT    NOT NULL DEFAULT '',
    scopes       TEXT    NOT NULL,     -- comma-separated permissions
    secret_hash  BLOB    NOT NULL,     -- SHA-256 of the secret, 32 bytes
    created_at   INTEGER NOT NULL,
    created_by   TEXT    NOT NULL DEFAULT '',
    expires_at   INTEGER NOT NULL DEFAULT 0,
    revoked_at   INTEGER NOT NULL DEFAULT 0,
    last_used_at INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE sessions (
    token_hash   BLOB    PRIMARY KEY,  -- SHA-256 of the cookie's token, 32 bytes
    user_id      TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL      -- the absolute end
) WITHOUT ROWID;

-- A user's sessions, deleted together when it is disabled.
CREATE INDEX sessions_user ON sessions (user_id);
