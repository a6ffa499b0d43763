-- The exception reports: every metric failing its standard in the reporting month, with the commentary
-- written for the period (config/board-pack/commentary.yaml, rows whose `period` is the reporting month).
-- A metric fails when its value is below its standard (higher is better) or above it (lower is better).
-- A metric without data for the reporting month is not judged here: the data-quality page lists it.
SELECT
    mm.metric_id,
    mm.value,
    -- The counts behind the value: in a row where one is a small number, the value is withheld with it.
    mm.numerator,
    mm.denominator,
    c.issues,
    c.updates,
    c.recovery_actions,
    c.metric_id IS NOT NULL AS has_commentary
FROM metric_month mm
JOIN metrics k ON k.id = mm.metric_id
LEFT JOIN (SELECT * FROM commentary WHERE period = $period) c ON c.metric_id = mm.metric_id
WHERE mm.month = $period
  AND CASE WHEN k.direction = 'increase' THEN mm.value < k.standard ELSE mm.value > k.standard END
ORDER BY mm.metric_id
