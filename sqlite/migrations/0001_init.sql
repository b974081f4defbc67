-- 0001: the events table and the indexes the Filter queries need.
--
-- Each filterable field is a column; the whole event is kept beside them
-- as a JSON document (data), which is what Get and Query return.
--
-- No column is NOT NULL, on purpose: Write never stores a NULL, and a
-- constraint that can abort a statement makes SQLite keep a statement
-- journal for every multi-row INSERT (a copy of each page the statement
-- changes, so that it can undo the statement alone), which cost a sixth
-- of the write time. id is unique through its index.
--
-- Every index costs insert speed, so there is one per query shape and no
-- more. Every SQLite index implicitly ends in the rowid, so an index on
-- (x, time) is really (x, time, rowid): equal x in time order. A query
-- ordered by time breaks ties by id with a small sort of the rows that
-- share one nanosecond timestamp, which SQLite does as it goes and stops
-- at the LIMIT. The partial indexes leave out the rows that lack the
-- field (system events often have no actor, most request events no
-- object, single-tenant services no tenant), so those rows cost nothing
-- there; the queries repeat the index's condition (e.g. actor_id <> '')
-- so that the planner may use it.
--
-- Not indexed, on purpose: action, severity, status, duration, search
-- (LIKE '%…%' cannot use a b-tree) and the non-time orderings. Those
-- queries walk the time index (or one of the indexes below) and filter
-- or sort as they go.
CREATE TABLE events (
    seq         INTEGER PRIMARY KEY, -- the rowid: insertion order, the table b-tree's key
    id          BLOB,                -- the UUID, 16 bytes
    time        INTEGER,             -- unix nanoseconds
    kind        TEXT,
    action      TEXT,
    severity    TEXT,
    tenant      TEXT,                -- '' when the event has none, as every text column
    actor_id    TEXT,
    actor_name  TEXT,
    object_type TEXT,
    object_id   TEXT,
    object_repr TEXT,
    message     TEXT,
    path        TEXT,                -- request path
    remote_ip   TEXT,                -- request client IP
    status      INTEGER,             -- response status; 0 when none
    duration    INTEGER,             -- response duration, nanoseconds
    data        BLOB                 -- the whole event as JSON
);

-- Get by id, and idempotent writes: INSERT … ON CONFLICT(id) DO NOTHING
-- needs a unique index on id. UUIDv7 ids grow with time, so new entries
-- land at the right edge of the b-tree.
CREATE UNIQUE INDEX events_id ON events (id);

-- The default listing (newest first), date_from/date_to/last_hours, and
-- every filter without an index of its own (action, status, search): a
-- scan in time order that stops once the page is full.
CREATE INDEX events_time ON events (time);

-- kind=…: the per-kind lists (crud, auth, request, …), in time order.
-- Needed because a rare kind (auth) among many requests would otherwise
-- make the time scan read most of the table to fill one page.
CREATE INDEX events_kind_time ON events (kind, time);

-- user_id=…: one actor's activity, in time order.
CREATE INDEX events_actor_time ON events (actor_id, time) WHERE actor_id <> '';

-- tenant=…: one tenant's activity, in time order.
CREATE INDEX events_tenant_time ON events (tenant, time) WHERE tenant <> '';

-- object_type=… (and object_id=…): one object's history, in time order.
CREATE INDEX events_object_time ON events (object_type, object_id, time) WHERE object_type <> '';

-- remote_ip=…: everything one client address did, in time order.
CREATE INDEX events_ip_time ON events (remote_ip, time) WHERE remote_ip <> '';
