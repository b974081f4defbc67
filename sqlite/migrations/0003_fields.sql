-- 0003: columns for the field filters method, origin, category and tool.
--
-- Filter gained exact filters on the request method, the request Origin
-- header, the category and the tool. severity and status had columns
-- from 0001; these four were only in the JSON document (data), so they
-- become columns of their own, filled for the rows already stored from
-- that document. Write fills them from then on.
--
-- DEFAULT '' keeps the rule that no column holds a NULL even for a row
-- that an older binary, which does not know these columns, writes into
-- a database this migration has run on. It is a default, not a
-- constraint: it never aborts a statement.
--
-- No index, on purpose (0001's rule: one per query shape that needs
-- one). These filters come with a kind (method, status and origin on the
-- request, cors and external lists; category on the system list) or on
-- their own; either way the query walks events_kind_time or events_time
-- in time order and stops once the page is full, as action and status
-- already do. They match a large share of the rows they read, which is
-- where an index would gain nothing.
ALTER TABLE events ADD COLUMN method TEXT DEFAULT '';   -- request method
ALTER TABLE events ADD COLUMN origin TEXT DEFAULT '';   -- request Origin header
ALTER TABLE events ADD COLUMN category TEXT DEFAULT '';
ALTER TABLE events ADD COLUMN tool TEXT DEFAULT '';

-- data is a BLOB of text JSON. SQLite's JSON functions read a BLOB as
-- its binary JSONB format and accept text JSON in a BLOB only as a
-- backward-compatible quirk, so the document is cast to TEXT first. The
-- paths are those of docs/event-schema.md; a field left out of the
-- document (empty) stays ''. Rows that have none of the four are not
-- rewritten.
UPDATE events SET
    method   = coalesce(json_extract(CAST(data AS TEXT), '$.request.method'), ''),
    origin   = coalesce(json_extract(CAST(data AS TEXT), '$.request.origin'), ''),
    category = coalesce(json_extract(CAST(data AS TEXT), '$.category'), ''),
    tool     = coalesce(json_extract(CAST(data AS TEXT), '$.tool'), '')
WHERE json_extract(CAST(data AS TEXT), '$.request.method') IS NOT NULL
   OR json_extract(CAST(data AS TEXT), '$.request.origin') IS NOT NULL
   OR json_extract(CAST(data AS TEXT), '$.category') IS NOT NULL
   OR json_extract(CAST(data AS TEXT), '$.tool') IS NOT NULL;
