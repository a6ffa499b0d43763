-- The factor set of each financial year in the window: the set of the year it starts in plus
-- $factor_year_offset (0: the calendar year in which most of an April–March year falls), or, when that
-- set is not shipped, the substitute configured in factor_substitutes.yaml. No set and no substitute
-- leaves `used_set` empty, which the `factor_sets` check turns into an error.
WITH years AS (SELECT DISTINCT fy, fy_label FROM months),
sets AS (SELECT DISTINCT set_year FROM factors)
SELECT
    y.fy,
    y.fy_label,
    CAST(y.fy + $factor_year_offset AS BIGINT) AS wanted_set,
    COALESCE(s.set_year, s2.set_year) AS used_set,
    s.set_year IS NULL AND s2.set_year IS NOT NULL AS substituted,
    CASE WHEN s.set_year IS NULL THEN sub.reason END AS reason,
    'the ' || CAST(y.fy + $factor_year_offset AS VARCHAR)
        || ' factor set is not shipped: add it under config/carbon-account/factors/desnz/ or name a substitute in config/carbon-account/factor_substitutes.yaml'
        AS fix
FROM years y
LEFT JOIN sets s ON s.set_year = y.fy + $factor_year_offset
LEFT JOIN factor_substitutes sub ON sub.wanted_set = y.fy + $factor_year_offset
LEFT JOIN sets s2 ON s2.set_year = sub.use_set
ORDER BY y.fy
