-- Masked keys cannot be unmasked.
SELECT 1;
