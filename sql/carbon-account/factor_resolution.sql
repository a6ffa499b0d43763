-- Each mapping row resolved, for each financial year, to the factor it uses: a DESNZ row of the year's
-- set (selected by its levels, column text and unit; an empty selector matches anything, `a|b` matches
-- either; case is ignored because the published wording's case drifts), a global warming potential of
-- the chosen IPCC set ($gwp_set), or a supplementary factor. `rows_found` must be exactly 1: the
-- `factor_rows` check stops the run otherwise, naming the mapping row and the set.
WITH used AS (
    SELECT fy, used_set FROM factor_years WHERE used_set IS NOT NULL
),
m AS (
    SELECT
        map_id, source, CAST(ref AS VARCHAR) AS ref,
        lower(COALESCE(CAST(level1 AS VARCHAR), '')) AS s1,
        lower(COALESCE(CAST(level2 AS VARCHAR), '')) AS s2,
        lower(COALESCE(CAST(level3 AS VARCHAR), '')) AS s3,
        lower(COALESCE(CAST(level4 AS VARCHAR), '')) AS s4,
        lower(COALESCE(CAST(column_text AS VARCHAR), '')) AS sc,
        lower(COALESCE(CAST(uom AS VARCHAR), '')) AS su
    FROM factor_map
),
f AS (
    SELECT * FROM factors
    WHERE gas = 'CO2e' AND set_year IN (SELECT used_set FROM used)
),
matched AS (
    SELECT m.map_id, f.set_year, f.factor_id, f.factor_key, f.value, f.uom, f.source_file, f.source_line
    FROM m JOIN f ON
        (m.s1 = '' OR array_has(string_to_array(m.s1, '|'), lower(f.level1)))
        AND (m.s2 = '' OR array_has(string_to_array(m.s2, '|'), lower(f.level2)))
        AND (m.s3 = '' OR array_has(string_to_array(m.s3, '|'), lower(f.level3)))
        AND (m.s4 = '' OR array_has(string_to_array(m.s4, '|'), lower(f.level4)))
        AND (m.sc = '' OR array_has(string_to_array(m.sc, '|'), lower(f.column_text)))
        AND (m.su = '' OR array_has(string_to_array(m.su, '|'), lower(f.uom)))
    WHERE m.source = 'desnz'
),
counted AS (
    SELECT
        map_id, set_year,
        COUNT(*) AS n,
        MIN(factor_id) AS factor_id,
        MIN(factor_key) AS factor_key,
        MIN(value) AS value,
        MIN(uom) AS uom,
        MIN(source_file) AS source_file,
        MIN(source_line) AS source_line
    FROM matched
    GROUP BY map_id, set_year
)
SELECT
    m.map_id,
    u.fy,
    'desnz' AS source,
    'DESNZ ' || CAST(u.used_set AS VARCHAR) AS set_label,
    u.used_set AS set_year,
    c.factor_id,
    c.factor_key,
    c.value AS factor_value,
    'kgCO2e per ' || COALESCE(c.uom, m.su) AS factor_unit,
    c.source_file,
    c.source_line,
    COALESCE(c.n, 0) AS rows_found,
    concat_ws(' > ', NULLIF(m.s1, ''), NULLIF(m.s2, ''), NULLIF(m.s3, ''), NULLIF(m.s4, ''), NULLIF(m.sc, ''), NULLIF(m.su, '')) AS selector
FROM m
CROSS JOIN used u
LEFT JOIN counted c ON c.map_id = m.map_id AND c.set_year = u.used_set
WHERE m.source = 'desnz'
UNION ALL
SELECT
    m.map_id,
    u.fy,
    'gwp' AS source,
    'IPCC ' || $gwp_set || ' GWP' AS set_label,
    CAST(NULL AS BIGINT) AS set_year,
    m.ref AS factor_id,
    g.source AS factor_key,
    CAST(g.gwp AS DOUBLE) AS factor_value,
    'kgCO2e per kg' AS factor_unit,
    'config/carbon-account/gwp.csv' AS source_file,
    CAST(NULL AS BIGINT) AS source_line,
    CASE WHEN g.gas IS NULL THEN 0 ELSE 1 END AS rows_found,
    m.ref || ' in ' || $gwp_set AS selector
FROM m
CROSS JOIN used u
LEFT JOIN gwp g ON g.gas = m.ref AND g.gwp_set = $gwp_set
WHERE m.source = 'gwp'
UNION ALL
SELECT
    m.map_id,
    u.fy,
    'supplementary' AS source,
    'Supplementary' AS set_label,
    CAST(NULL AS BIGINT) AS set_year,
    m.ref AS factor_id,
    s.description AS factor_key,
    CAST(s.kgco2e_per_unit AS DOUBLE) AS factor_value,
    'kgCO2e per ' || s.unit AS factor_unit,
    'config/carbon-account/supplementary_factors.csv' AS source_file,
    CAST(NULL AS BIGINT) AS source_line,
    CASE WHEN s.ref IS NULL THEN 0 ELSE 1 END AS rows_found,
    m.ref AS selector
FROM m
CROSS JOIN used u
LEFT JOIN supplementary_factors s ON s.ref = m.ref
WHERE m.source = 'supplementary'
