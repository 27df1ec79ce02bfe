ALTER TABLE api_keys ADD COLUMN cooldown_until DATETIME(6) NULL;
