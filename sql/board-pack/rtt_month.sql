-- The RTT waiting list at each month's end, all providers together (the rules are in
-- rtt_provider_month.sql).
SELECT
    month,
    SUM(pathways) AS pathways,
    SUM(within_18w) AS within_18w,
    SUM(over_52w) AS over_52w,
    SUM(over_78w) AS over_78w,
    SUM(over_104w) AS over_104w
FROM rtt_provider_month
GROUP BY month
ORDER BY month
