-- Building energy in the period and the same months last year: consumption (as returned: kWh or litres)
-- and tCO2e (every part: direct, T&D, well-to-tank) by organisation and fuel.
WITH lines AS (
    SELECT e.org_code, e.activity AS fuel, e.source_unit AS unit, e.map_id, e.part, e.source_quantity, e.kgco2e,
           mo.in_period, mo.in_period_ly
    FROM emissions e JOIN months mo ON mo.month = e.month
    WHERE e.category = 'building_energy' AND (mo.in_period OR mo.in_period_ly)
),
-- Consumption counted once per activity line: from its direct part only.
consumption AS (
    SELECT org_code, fuel, unit,
           SUM(CASE WHEN in_period THEN source_quantity END) AS quantity,
           SUM(CASE WHEN in_period_ly THEN source_quantity END) AS quantity_ly
    FROM lines WHERE part = 'direct' GROUP BY org_code, fuel, unit
),
carbon AS (
    SELECT org_code, fuel,
           SUM(CASE WHEN in_period THEN kgco2e END) / 1000.0 AS t_period,
           SUM(CASE WHEN in_period_ly THEN kgco2e END) / 1000.0 AS t_period_ly
    FROM lines GROUP BY org_code, fuel
)
SELECT c.org_code, c.fuel, c.unit, c.quantity, c.quantity_ly, k.t_period, k.t_period_ly
FROM consumption c JOIN carbon k ON k.org_code = c.org_code AND k.fuel = c.fuel
ORDER BY c.org_code, c.fuel
