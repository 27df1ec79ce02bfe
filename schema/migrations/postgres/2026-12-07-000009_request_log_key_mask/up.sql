-- A request-log row names its key by key_hash and a mask (first 4 + **** + last 4; keys of 8
-- characters or fewer: *****), never by value: the admin shows the key by looking the hash up
-- in api_keys. Rows written before hold the plaintext key; mask them. Rows sealed with
-- ENCRYPTION_KEY (enc1:…) stay as they are: unreadable without the key, shown masked by the
-- admin, and masked by the next migrate-keys.
UPDATE request_logs
SET key_value = CASE
    WHEN char_length(key_value) <= 8 THEN '*****'
    ELSE left(key_value, 4) || '****' || right(key_value, 4)
END
WHERE key_value <> '' AND left(key_value, 5) <> 'enc1:';
