DROP TABLE usage_hourly_stats;
ALTER TABLE request_logs
    DROP COLUMN total_tokens,
    DROP COLUMN output_tokens,
    DROP COLUMN input_tokens,
    DROP COLUMN ttfb_ms,
    DROP COLUMN retry_index,
    MODIFY COLUMN request_body TEXT NOT NULL;
