CREATE INDEX idx_request_logs_group_id ON request_logs (group_id);
CREATE INDEX idx_request_logs_group_name ON request_logs (group_name);
CREATE INDEX idx_request_logs_parent_group_id ON request_logs (parent_group_id);
CREATE INDEX idx_request_logs_parent_group_name ON request_logs (parent_group_name);
CREATE INDEX idx_request_logs_model ON request_logs (model);
CREATE INDEX idx_request_logs_request_type ON request_logs (request_type);
