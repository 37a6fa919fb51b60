-- The request log's search by request id: an index on (request_id, ts) gives the page's
-- `ORDER BY ts DESC` with the equality, so the planner takes it even without statistics (a
-- PostgreSQL table freshly filled, before autoanalyze, otherwise scanned usage_ts_id backwards
-- through every row for an unknown id: 0.5–1.5 s at 1M rows, docs/benchmarks.md).
DROP INDEX usage_request_id;
CREATE INDEX usage_request_id_ts ON usage (request_id, ts);
