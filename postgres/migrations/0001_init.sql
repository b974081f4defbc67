-- 0001: the events, partitioned by time; the ids that make writes
-- idempotent; resolutions; the store's settings.
--
-- Each filterable field is a column; the whole event is kept beside them
-- as its JSON document (data, the bytes the sqlite store keeps too),
-- which is what Get and Query return. changes and extra are also kept as
-- jsonb, so that SQL can look inside them (extra->>'username' for the
-- brute-force suspects). Text columns are COLLATE "C": orderings compare
-- bytes, as activitylog.Orderings requires, and the indexes are cheaper
-- to build and search than under a linguistic collation. No column holds
-- a NULL but changes and extra (NULL when the event has none).
--
-- time is Unix nanoseconds, as in the sqlite store: exact, and the cursor
-- carries it as it is. events is partitioned by RANGE (time); Open and
-- Write create each partition before the first event that needs it
-- (partition.go), and events_default catches anything else, so that a
-- write never fails for want of a partition.
CREATE TABLE events (
    id           uuid    NOT NULL,
    time         bigint  NOT NULL,               -- unix nanoseconds
    kind         text    COLLATE "C" NOT NULL,
    action       text    COLLATE "C" NOT NULL,
    severity     text    COLLATE "C" NOT NULL,
    tenant       text    COLLATE "C" NOT NULL,   -- '' when the event has none, as every text column
    actor_id     text    COLLATE "C" NOT NULL,
    actor_name   text    COLLATE "C" NOT NULL,
    object_type  text    COLLATE "C" NOT NULL,
    object_id    text    COLLATE "C" NOT NULL,
    object_repr  text    COLLATE "C" NOT NULL,
    message      text    COLLATE "C" NOT NULL,
    path         text    COLLATE "C" NOT NULL,   -- request path
    route        text    COLLATE "C" NOT NULL,   -- request route, else the path (activitylog.RouteOf)
    remote_ip    text    COLLATE "C" NOT NULL,   -- request client IP
    status       integer NOT NULL,               -- response status; 0 when none
    duration     bigint  NOT NULL,               -- response duration, nanoseconds
    method       text    COLLATE "C" NOT NULL,   -- request method
    origin       text    COLLATE "C" NOT NULL,   -- request Origin header
    category     text    COLLATE "C" NOT NULL,
    tool         text    COLLATE "C" NOT NULL,
    country_code text    COLLATE "C" NOT NULL,   -- request.geo.country_code
    country      text    COLLATE "C" NOT NULL,   -- request.geo.country
    changes      jsonb,                          -- NULL when the event has none
    extra        jsonb,                          -- NULL when the event has none
    data         bytea   NOT NULL,               -- the whole event as JSON
    -- A unique constraint on a partitioned table must hold the partition
    -- key, so this one is (time, id): it is the time index of every
    -- partition (the default listing, date_from/date_to, kind=request,
    -- and Get, which learns the time from event_ids), with id as the
    -- tie-break in the index order. Idempotency by id alone is
    -- event_ids' job.
    PRIMARY KEY (time, id)
) PARTITION BY RANGE (time);

-- The safety net: a row whose partition does not exist lands here
-- rather than failing the write. Write creates partitions first, so it
-- stays empty; a non-empty default partition makes creating a partition
-- for the same range fail, which is why Write never relies on it.
CREATE TABLE events_default PARTITION OF events DEFAULT;

-- Every index costs write speed (each of these about a tenth of a
-- write's time in BenchmarkIngest), so there is one per query shape and
-- no more. Each ends in time: equal keys in time order, read forwards or
-- backwards, and the planner sorts the few rows that share one
-- nanosecond by id as it goes (an incremental sort, which stops at the
-- LIMIT); the keyset cursor's row comparison (time, id) < ($1, $2)
-- bounds the scan by its time. id is left out of these keys: it would
-- make each entry 16 bytes larger for the sake of those ties. The
-- partial indexes leave out the rows the query never asks for, so those
-- rows cost nothing there: kind leaves out requests, which are most
-- events (the query for kind=request walks the primary key in time order
-- and keeps most rows it reads), and the others the rows without the
-- field (system events often have no actor, most requests no object,
-- single-tenant services no tenant). The queries repeat each index's
-- condition (e.g. kind <> 'request') so that the planner may use it.
--
-- Not indexed, on purpose: action, severity, status, duration, method,
-- origin, category, tool, remote_ip and search (ILIKE '%…%' cannot use
-- a b-tree). Those queries walk one of these indexes in time order and
-- filter as they go, stopping when the page is full. No GIN index on
-- changes or extra: no query of the store searches inside them (the
-- suspects read extra->>'username' from the rows of failed logins the
-- kind index finds). Add one (CREATE INDEX … USING gin (extra
-- jsonb_path_ops)) for queries of your own that ask extra @> '{…}'.

-- kind=…: the per-kind lists (crud, auth, system, …) but request, in time order.
CREATE INDEX events_kind_time ON events (kind, time) WHERE kind <> 'request';

-- user_id=…: one actor's activity, in time order.
CREATE INDEX events_actor_time ON events (actor_id, time) WHERE actor_id <> '';

-- tenant=…: one tenant's activity, in time order.
CREATE INDEX events_tenant_time ON events (tenant, time) WHERE tenant <> '';

-- object_type=… (and object_id=…): one object's history, in time order.
CREATE INDEX events_object_time ON events (object_type, object_id, time) WHERE object_type <> '';

-- Idempotency by id. The unique key of events holds the time, so it
-- cannot tell that an id is already stored with another time; this
-- table, not partitioned, holds every stored id once. Write inserts a
-- batch's ids here first, ON CONFLICT (id) DO NOTHING, and stores in
-- events only the rows whose id that insert took; a concurrent Write of
-- the same id waits on this primary key until the first one commits or
-- rolls back. Get reads an event's time here, then its row through the
-- partition's primary key. UUIDv7 ids grow with time, so new entries
-- land at the right edge of the b-tree.
CREATE TABLE event_ids (
    id   uuid   PRIMARY KEY,
    time bigint NOT NULL
);

-- Resolutions, kept beside the events and never in them (as in the
-- sqlite store): append-only, the event's resolution is its row with the
-- highest seq. event_id is not a foreign key (events' unique key is
-- (time, id)); Resolve inserts only when the id is in event_ids, in the
-- same statement.
CREATE TABLE resolutions (
    seq         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id    uuid   NOT NULL,
    resolved_by text   NOT NULL,
    resolved_at bigint NOT NULL,   -- unix nanoseconds
    note        text   NOT NULL    -- '' when there is none
);

-- An event's resolutions, newest last: ORDER BY seq DESC LIMIT 1 reads one entry.
CREATE INDEX resolutions_event ON resolutions (event_id, seq);

-- The store's settings: partition_interval, fixed when the schema is
-- first opened, since the partitions of one table cannot overlap.
CREATE TABLE settings (
    key   text PRIMARY KEY,
    value text NOT NULL
);
