-- Whether each metric's value of each month meets its standard (config/board-pack/metrics.yaml): at or
-- above it when higher is better, at or below it when lower is better. A judgement the scorecard groups
-- metrics by; computed here from the values as they are, so that it is the same whether or not the value
-- itself may be printed.
SELECT
    mm.metric_id,
    mm.month,
    CASE WHEN k.direction = 'increase' THEN mm.value >= k.standard ELSE mm.value <= k.standard END AS meets
FROM metric_month mm
JOIN metrics k ON k.id = mm.metric_id
ORDER BY mm.metric_id, mm.month
