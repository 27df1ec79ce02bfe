-- A key is in a group once: imports skip existing keys through this unique index. Lookups by
-- hash are always within a group (delete and restore by text, the list's key_value filter), so it
-- replaces the hash-only index, and imports update one random-order index, not two.
CREATE UNIQUE INDEX idx_api_keys_group_hash ON api_keys (group_id, key_hash);
-- Exports page through a group in id order.
CREATE INDEX idx_api_keys_group_id_id ON api_keys (group_id, id);
DROP INDEX idx_api_keys_key_hash ON api_keys;
