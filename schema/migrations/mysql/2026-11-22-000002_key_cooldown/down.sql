ALTER TABLE api_keys DROP COLUMN cooldown_until;
