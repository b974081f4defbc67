-- 0001: the events table and the indexes the Filter queries need.
--
-- Each filterable field is a column; the whole event is kept beside them
-- as its JSON document (data), byte for byte what encoding/json makes of
-- it, which is what Get and Query return.
--
-- Every text column is binary (VARBINARY or BLOB): it compares and
-- sorts bytes, as a "C" collation does, and keeps trailing spaces
-- significant (utf8mb4_bin is a PAD SPACE collation on MariaDB and on
-- MySQL 5.7, where 'a' = 'a '). The table's default character set is
-- utf8mb4 for the two JSON columns.
--
-- The columns that a query orders by (kind, action, actor_id, tenant,
-- object_type) hold at most 1024 bytes (activitylog.MaxShortField); Write
-- refuses an event with a longer one, as Event.Validate does. Those that
-- only filter hold the first 1025 bytes of the value: no filter value is
-- longer than 1024 bytes (Filter.Normalize), so a longer value is
-- unequal to every filter value, as it should be.
--
-- Search folds ASCII letters only, which no MySQL collation does
-- (utf8mb4_general_ci folds Ö to o as well), so Write stores the four
-- searched fields with their ASCII letters lowered (search_*) and Search
-- lowers the pattern the same way: a byte-wise LIKE on them is
-- Filter.Match exactly.
--
-- route, geo_code, geo_country and actor_name are for the analytics:
-- activitylog.RouteOf, activitylog.CountryOf and the actor name of the
-- top users, so that GROUP BY reads columns and not the JSON document.
-- changes and extra are the event's maps as JSON text, for the JSON
-- functions (JSON_EXTRACT(extra, '$.username') in Suspects) and ad-hoc
-- queries. They are LONGTEXT, not JSON: MariaDB's JSON type is LONGTEXT
-- with a CHECK (JSON_VALID(…)) that parsed every document again and
-- cost a third of the write time (BenchmarkIngest), and MySQL's binary
-- JSON type would parse and convert every document too. The encoder
-- writes them, so they are valid JSON (and valid UTF-8) anyway.
--
-- The primary key is the id: InnoDB clusters the table by it, and UUIDv7
-- ids grow with time, so new rows land at the right edge of the tree.
-- Every secondary index ends in the primary key, so events_time is
-- really (time, id): the order of every time ordering with its tiebreak,
-- which a query reads in either direction and stops at the LIMIT.
--
-- Every index costs insert speed, so there is one per query shape and no
-- more, as in the SQLite store. Not indexed, on purpose: action,
-- severity, status, duration, method, origin, category, tool, search
-- (LIKE '%…%' cannot use a b-tree) and the non-time orderings; those
-- queries walk the time index (or one of the others) and filter as they
-- go.
--
-- IF NOT EXISTS: DDL is not transactional in MySQL, so a migration that
-- stopped half way (a crash between two statements) is run again from
-- its first statement, and each must be harmless the second time.
CREATE TABLE IF NOT EXISTS events (
    id             BINARY(16)      NOT NULL, -- the UUID
    time           BIGINT          NOT NULL, -- unix nanoseconds
    kind           VARBINARY(1024) NOT NULL,
    action         VARBINARY(1024) NOT NULL,
    severity       VARBINARY(1025) NOT NULL,
    tenant         VARBINARY(1024) NOT NULL, -- '' when the event has none, as every text column
    actor_id       VARBINARY(1024) NOT NULL,
    object_type    VARBINARY(1024) NOT NULL,
    object_id      VARBINARY(1025) NOT NULL,
    remote_ip      VARBINARY(1025) NOT NULL, -- request client IP
    method         VARBINARY(1025) NOT NULL, -- request method
    origin         VARBINARY(1025) NOT NULL, -- request Origin header
    category       VARBINARY(1025) NOT NULL,
    tool           VARBINARY(1025) NOT NULL,
    status         BIGINT          NOT NULL, -- response status; 0 when none
    duration       BIGINT          NOT NULL, -- response duration, nanoseconds
    actor_name     MEDIUMBLOB      NOT NULL,
    route          MEDIUMBLOB      NOT NULL, -- request route, else path (activitylog.RouteOf)
    geo_code       MEDIUMBLOB      NOT NULL, -- request.geo.country_code
    geo_country    MEDIUMBLOB      NOT NULL, -- request.geo.country
    search_message MEDIUMBLOB      NOT NULL, -- message, ASCII letters lowered
    search_path    MEDIUMBLOB      NOT NULL, -- request path, lowered
    search_repr    MEDIUMBLOB      NOT NULL, -- object repr, lowered
    search_name    MEDIUMBLOB      NOT NULL, -- actor name, lowered
    changes        LONGTEXT        NULL,     -- the event's changes as JSON; NULL when none
    extra          LONGTEXT        NULL,     -- the event's extra as JSON; NULL when none
    data           LONGBLOB        NOT NULL, -- the whole event as JSON
    PRIMARY KEY (id),
    -- The default listing (newest first), date_from/date_to/last_hours,
    -- and every filter without an index of its own.
    KEY events_time (time),
    -- kind=…: the per-kind lists, in time order.
    KEY events_kind_time (kind, time),
    -- user_id=…: one actor's activity.
    KEY events_actor_time (actor_id, time),
    -- tenant=…: one tenant's activity.
    KEY events_tenant_time (tenant, time),
    -- object_type=… (and object_id=…): one object's history.
    KEY events_object_time (object_type, object_id, time),
    -- remote_ip=…: everything one client address did.
    KEY events_ip_time (remote_ip, time)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin ROW_FORMAT=DYNAMIC;
