CREATE INDEX idx_api_keys_key_hash ON api_keys (key_hash);
DROP INDEX idx_api_keys_group_hash ON api_keys;
DROP INDEX idx_api_keys_group_id_id ON api_keys;
