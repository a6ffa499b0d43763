-- Every factor row the account used, once per set: its set, ID (published from 2023) or key, value and
-- unit, the scope and part it was applied as, and the financial years that used it.
SELECT
    e.set_label,
    e.map_id,
    e.scope,
    e.part,
    e.factor_id,
    e.factor_key,
    e.factor_value,
    e.factor_unit,
    array_to_string(array_sort(array_agg(DISTINCT e.fy_label)), ', ') AS years,
    SUM(e.kgco2e) / 1000.0 AS tco2e
FROM emissions e
GROUP BY e.set_label, e.map_id, e.scope, e.part, e.factor_id, e.factor_key, e.factor_value, e.factor_unit
ORDER BY e.set_label, e.map_id
