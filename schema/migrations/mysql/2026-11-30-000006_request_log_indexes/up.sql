-- Request logs keep only the indexes their queries use: timestamp (order, ranges, retention,
-- requests per minute) and key_hash (key filter, key export). The name and model filters are
-- LIKE '%x%', which no index serves; group and request-type columns are too coarse to help.
-- Six fewer B-trees make every logged request cheaper to write.
DROP INDEX idx_request_logs_group_id ON request_logs;
DROP INDEX idx_request_logs_group_name ON request_logs;
DROP INDEX idx_request_logs_parent_group_id ON request_logs;
DROP INDEX idx_request_logs_parent_group_name ON request_logs;
DROP INDEX idx_request_logs_model ON request_logs;
DROP INDEX idx_request_logs_request_type ON request_logs;
