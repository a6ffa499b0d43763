-- The ICB's providers together, per month. Ratios are recomputed from summed numerators and
-- denominators, never averaged.
SELECT
    month,
    SUM(attendances) AS attendances,
    SUM(within_4h) AS within_4h,
    CAST(SUM(within_4h) AS DOUBLE) / SUM(attendances) AS pct_4h,
    SUM(over_12h_from_arrival) AS over_12h_from_arrival,
    CAST(SUM(over_12h_from_arrival) AS DOUBLE) / SUM(attendances) AS pct_over_12h,
    SUM(trolley_waits_12h) AS trolley_waits_12h
FROM ae_provider_month
GROUP BY month
ORDER BY month
