-- The diagnostics waiting list (DM01) at each month's end per provider, a snapshot: the share waiting under
-- six weeks (fewer than 42 days from referral to the snapshot date) and over 13 weeks (91 days or more).
WITH snapshot AS (
    SELECT
        month,
        provider_code,
        CAST(month || '-01' AS DATE) + INTERVAL '1 month' - INTERVAL '1 day' AS snapshot_date,
        referral_date
    FROM diagnostics_waiting_list
)
SELECT
    month,
    provider_code,
    COUNT(*) AS waiting,
    SUM(CASE WHEN referral_date > snapshot_date - INTERVAL '42 days' THEN 1 ELSE 0 END) AS under_6w,
    SUM(CASE WHEN referral_date <= snapshot_date - INTERVAL '91 days' THEN 1 ELSE 0 END) AS over_13w
FROM snapshot
GROUP BY month, provider_code
ORDER BY month, provider_code
