-- The diagnostics waiting list (DM01) at each month's end, all providers together (the rules are in
-- dm01_provider_month.sql).
SELECT
    month,
    SUM(waiting) AS waiting,
    SUM(under_6w) AS under_6w,
    SUM(over_13w) AS over_13w
FROM dm01_provider_month
GROUP BY month
ORDER BY month
