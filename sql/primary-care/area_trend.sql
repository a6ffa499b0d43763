-- Each indicator per month for the ICB and every PCN over the months loaded (the period and the twelve
-- before it), recomputed from the submitting practices' numerators and denominators.
WITH base AS (
    SELECT pm.month, pm.indicator_id, pm.numerator, pm.denominator, p.pcn_code, p.pcn_name
    FROM practice_month pm
    JOIN practices p ON p.practice_code = pm.practice_code
    WHERE pm.submitted
),
levels AS (
    SELECT 'ICB' AS level, 'ICB' AS area_code, 'ICB' AS area_name, month, indicator_id, numerator, denominator FROM base
    UNION ALL
    SELECT 'PCN', pcn_code, pcn_name, month, indicator_id, numerator, denominator FROM base
),
summed AS (
    SELECT
        level,
        area_code,
        MAX(area_name) AS area_name,
        month,
        indicator_id,
        SUM(numerator) AS numerator,
        SUM(denominator) AS denominator,
        CASE WHEN SUM(denominator) > 0 THEN SUM(numerator) / SUM(denominator) END AS value
    FROM levels
    GROUP BY level, area_code, month, indicator_id
)
-- `display_value`: the value on the scale it prints on (a ratio for percentages, per 1,000 for rates).
SELECT s.*, CASE WHEN i.unit = 'percent' THEN s.value ELSE s.value * i.scale END AS display_value
FROM summed s
JOIN indicators i ON i.id = s.indicator_id
ORDER BY level, area_code, indicator_id, month
