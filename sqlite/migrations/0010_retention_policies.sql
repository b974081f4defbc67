-- 0010: retention policies (package retention): which events are
-- deleted after how many days, and what their runs did.
--
-- kind is an activitylog kind or 'all'; tenant '' with all_tenants 0
-- selects the events without a tenant, all_tenants 1 every tenant's.
-- Times are unix nanoseconds; last_run 0 means never.
CREATE TABLE retention_policies (
    id              TEXT    PRIMARY KEY,                 -- rtp_ and 16 hex digits
    name            TEXT    NOT NULL UNIQUE COLLATE NOCASE,
    kind            TEXT    NOT NULL,                    -- a kind, or all
    retain_days     INTEGER NOT NULL CHECK (retain_days >= 1),
    active          INTEGER NOT NULL DEFAULT 1,
    tenant          TEXT    NOT NULL DEFAULT '',
    all_tenants     INTEGER NOT NULL DEFAULT 0,
    archive         INTEGER NOT NULL DEFAULT 0,          -- archive before delete
    last_run        INTEGER NOT NULL DEFAULT 0,
    records_deleted INTEGER NOT NULL DEFAULT 0,          -- summed over every run
    last_error      TEXT    NOT NULL DEFAULT '',
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);

-- At most one active policy per kind and tenants, so that what applies
-- to an event is never ambiguous.
CREATE UNIQUE INDEX retention_policies_scope ON retention_policies (kind, tenant, all_tenants) WHERE active = 1;
