-- Published benchmarks beside the ICB's own value, per metric per month: the Midlands region and England.
SELECT
    b.metric_id,
    b.month,
    m.value AS icb,
    b.midlands,
    b.england
FROM benchmarks b
LEFT JOIN metric_month m ON m.metric_id = b.metric_id AND m.month = b.month
ORDER BY b.metric_id, b.month
