DROP TABLE usage_hourly_stats;
ALTER TABLE request_logs DROP COLUMN total_tokens;
ALTER TABLE request_logs DROP COLUMN output_tokens;
ALTER TABLE request_logs DROP COLUMN input_tokens;
ALTER TABLE request_logs DROP COLUMN ttfb_ms;
ALTER TABLE request_logs DROP COLUMN retry_index;
