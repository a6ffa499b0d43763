-- Trajectory monitoring: every plan trajectory (an `operational_plan` line named by a metric id of
-- config/board-pack/metrics.yaml, planned for the ICB as a whole) against the metric's actual, for the
-- six months to the reporting month. Variance = actual − target, in the metric's unit (percentage points
-- for a ratio). A month without an actual keeps its target and has no variance.
WITH p AS (
    SELECT CAST(substr($period, 1, 4) AS INT) * 12 + CAST(substr($period, 6, 2) AS INT) - 1 AS pmi
),
t AS (
    SELECT plan_line AS metric_id, month, planned_value AS target,
           CAST(substr(month, 1, 4) AS INT) * 12 + CAST(substr(month, 6, 2) AS INT) - 1 AS mi
    FROM operational_plan
    WHERE provider_code = $icb_code
)
SELECT
    k.id AS metric_id,
    t.month,
    mm.value AS actual,
    -- The counts behind the actual: in a row where one is a small number, the actual is withheld with it.
    mm.numerator,
    mm.denominator,
    t.target,
    mm.value - t.target AS variance,
    CASE
        WHEN mm.value IS NULL THEN NULL
        WHEN k.direction = 'increase' THEN mm.value >= t.target
        ELSE mm.value <= t.target
    END AS on_track
FROM t
JOIN metrics k ON k.id = t.metric_id
CROSS JOIN p
LEFT JOIN metric_month mm ON mm.metric_id = t.metric_id AND mm.month = t.month
WHERE t.mi BETWEEN p.pmi - 5 AND p.pmi
ORDER BY k.id, t.month
