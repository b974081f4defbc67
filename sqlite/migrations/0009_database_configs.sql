-- 0009: database configuration records (package dbconfig) and the
-- events that wait to be replayed to their tenant's database.
--
-- A config's password is never stored in the clear: secret holds it
-- sealed with AES-256-GCM by a dbconfig.Keyring ("v1:<key id>:<base64>",
-- bound to the config's id), or '' when it has none. Options are a JSON
-- object of driver parameters, which hold no secret (dbconfig refuses
-- option names like password or token). Times are unix nanoseconds.
CREATE TABLE database_configs (
    id         TEXT    PRIMARY KEY,                 -- dbc_ and 16 hex digits
    name       TEXT    NOT NULL UNIQUE COLLATE NOCASE,
    engine     TEXT    NOT NULL,                    -- sqlite, postgres, mysql, clickhouse, mongodb
    host       TEXT    NOT NULL DEFAULT '',
    port       INTEGER NOT NULL DEFAULT 0,          -- 0: the engine's default
    database   TEXT    NOT NULL,
    username   TEXT    NOT NULL DEFAULT '',
    secret     TEXT    NOT NULL DEFAULT '',         -- the sealed password; '' none
    options    TEXT    NOT NULL DEFAULT '{}',       -- JSON object of strings
    route_for  TEXT    NOT NULL,                    -- a kind, or all
    tenant     TEXT    NOT NULL DEFAULT '',         -- '': events without a tenant
    is_primary INTEGER NOT NULL DEFAULT 0,
    active     INTEGER NOT NULL DEFAULT 1,
    read_only  INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

-- At most one primary per tenant and route_for: the config the router
-- writes those events to.
CREATE UNIQUE INDEX database_configs_primary ON database_configs (tenant, route_for) WHERE is_primary = 1;

-- Batches of events that the router wrote to the default store because
-- their own (config_id's) store failed, kept until they are committed
-- there: events is the batch as a JSON array of events. A batch is
-- deleted only after its store committed it.
CREATE TABLE database_config_pending (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,   -- replay order, oldest first
    config_id  TEXT    NOT NULL,
    n_events   INTEGER NOT NULL,
    events     BLOB    NOT NULL,                    -- JSON array of activitylog.Event
    created_at INTEGER NOT NULL
);

CREATE INDEX database_config_pending_config ON database_config_pending (config_id, seq);
