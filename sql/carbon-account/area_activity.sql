-- Water, waste, travel and fleet, personal travel and procurement in the period and the same months last
-- year: activity as returned and tCO2e, by category, activity, detail (waste stream, journey) and organisation.
WITH lines AS (
    SELECT e.category, e.account_category, e.activity, COALESCE(e.detail, '') AS detail, e.org_code, e.source_unit AS unit,
           e.part, e.source_quantity, e.kgco2e, mo.in_period, mo.in_period_ly
    FROM emissions e JOIN months mo ON mo.month = e.month
    WHERE e.category IN ('water', 'waste', 'travel', 'ambulance', 'personal_travel', 'procurement')
      AND (mo.in_period OR mo.in_period_ly)
)
SELECT
    category, account_category, activity, detail, org_code, unit,
    SUM(CASE WHEN in_period AND part = 'direct' THEN source_quantity END) AS quantity,
    SUM(CASE WHEN in_period_ly AND part = 'direct' THEN source_quantity END) AS quantity_ly,
    SUM(CASE WHEN in_period THEN kgco2e END) / 1000.0 AS t_period,
    SUM(CASE WHEN in_period_ly THEN kgco2e END) / 1000.0 AS t_period_ly
FROM lines
GROUP BY category, account_category, activity, detail, org_code, unit
ORDER BY category, activity, detail, org_code
