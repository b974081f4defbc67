-- 0008: two more hourly rollups beside those of 0004, for the
-- dashboard's series of requests and errors per bucket
-- (activitylog.Series) and its countries (Dashboard.TopCountries).
--
-- rollup_statuses counts the request events of one hour and one tenant
-- by status: rollup_routes summed over the routes, which it fills here
-- for the hours already folded, and a few rows an hour to read where
-- rollup_routes has hundreds.
--
-- rollup_countries counts the events of one hour and one tenant that have a country
-- (request.geo.country_code or request.geo.country in the document;
-- activitylog.CountryOf), by code and name. Events without either are
-- not counted here: the dashboard's no_country is its total less the
-- countries' events.
--
-- The rollups hold every event up to the watermark (rollup_state.seq),
-- so rollup_countries is filled for those events here, as the fold
-- (sqlite/analytics.go, rollupTables) would have filled it; the events
-- past the watermark are folded into it with the others from now on,
-- and the dirty hours recounted. Hours that are dirty now are counted
-- too: their next fold deletes and recounts them in every rollup.
-- The instr skips the JSON functions for documents without a geo.
-- 0004's triggers need no change: they watch data, where the geo is.
CREATE TABLE rollup_statuses (
    hour   INTEGER, -- unix hours: time / 3600000000000
    tenant TEXT,
    status INTEGER,
    n      INTEGER,
    PRIMARY KEY (hour, tenant, status)
) WITHOUT ROWID;

INSERT INTO rollup_statuses (hour, tenant, status, n)
SELECT hour, tenant, status, sum(n) FROM rollup_routes GROUP BY 1, 2, 3;

CREATE TABLE rollup_countries (
    hour   INTEGER, -- unix hours: time / 3600000000000
    tenant TEXT,
    code   TEXT,    -- request.geo.country_code, '' when absent
    name   TEXT,    -- request.geo.country, '' when absent
    n      INTEGER,
    PRIMARY KEY (hour, tenant, code, name)
) WITHOUT ROWID;

INSERT INTO rollup_countries (hour, tenant, code, name, n)
SELECT time / 3600000000000, tenant,
    coalesce(json_extract(CAST(data AS TEXT), '$.request.geo.country_code'), ''),
    coalesce(json_extract(CAST(data AS TEXT), '$.request.geo.country'), ''),
    count(*)
FROM events NOT INDEXED
WHERE seq <= (SELECT seq FROM rollup_state WHERE id = 1)
  AND instr(CAST(data AS TEXT), '"geo"') > 0
  AND (coalesce(json_extract(CAST(data AS TEXT), '$.request.geo.country_code'), '') <> ''
    OR coalesce(json_extract(CAST(data AS TEXT), '$.request.geo.country'), '') <> '')
GROUP BY 1, 2, 3, 4;
