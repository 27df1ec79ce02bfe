CREATE INDEX idx_api_keys_key_hash ON api_keys (key_hash);
CREATE INDEX idx_api_keys_group_last_used_id ON api_keys (group_id, last_used_at, id);
DROP INDEX idx_api_keys_group_hash;
DROP INDEX idx_api_keys_group_id_id;
DROP INDEX idx_api_keys_group_used_desc;
