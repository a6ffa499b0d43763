-- The RTT waiting list at each month's end per provider (a snapshot: a quarter or a year takes its last
-- month). Weeks waited are whole weeks from clock start to the snapshot date: "within 18 weeks" is fewer
-- than 19 × 7 = 133 days; "52 weeks or more" is at least 364 days (78: 546, 104: 728).
WITH snapshot AS (
    SELECT
        month,
        provider_code,
        CAST(month || '-01' AS DATE) + INTERVAL '1 month' - INTERVAL '1 day' AS snapshot_date,
        clock_start
    FROM rtt_waiting_list
)
SELECT
    month,
    provider_code,
    COUNT(*) AS pathways,
    SUM(CASE WHEN clock_start > snapshot_date - INTERVAL '133 days' THEN 1 ELSE 0 END) AS within_18w,
    SUM(CASE WHEN clock_start <= snapshot_date - INTERVAL '364 days' THEN 1 ELSE 0 END) AS over_52w,
    SUM(CASE WHEN clock_start <= snapshot_date - INTERVAL '546 days' THEN 1 ELSE 0 END) AS over_78w,
    SUM(CASE WHEN clock_start <= snapshot_date - INTERVAL '728 days' THEN 1 ELSE 0 END) AS over_104w
FROM snapshot
GROUP BY month, provider_code
ORDER BY month, provider_code
