-- tCO2e by financial year and NHS boundary (complete years only; the current year also to date), with
-- the plan's trajectory (the baseline reduced by the annual rate, compounded) and the straight path to
-- net zero, from the baseline year to the net-zero year. The years run 2015/16 to 2050/51 at most.
WITH actual AS (
    SELECT mo.fy, e.boundary, SUM(e.kgco2e) / 1000.0 AS t, COUNT(DISTINCT mo.month) AS months
    FROM emissions e JOIN months mo ON mo.month = e.month
    GROUP BY mo.fy, e.boundary
),
base AS (
    SELECT t.boundary, t.baseline_fy, t.annual_reduction, t.net_zero_fy, a.t AS baseline_t
    FROM trajectory t LEFT JOIN actual a ON a.boundary = t.boundary AND a.fy = t.baseline_fy AND a.months = 12
),
years AS (SELECT unnest(range(2015, 2051)) AS fy),
first_year AS (SELECT MIN(fy) AS fy FROM months),
last_target AS (SELECT MAX(net_zero_fy) AS fy FROM trajectory),
grid AS (
    SELECT y.fy, b.boundary, b.baseline_fy, b.annual_reduction, b.net_zero_fy, b.baseline_t
    FROM years y CROSS JOIN base b
    WHERE y.fy >= (SELECT fy FROM first_year) AND y.fy <= (SELECT fy FROM last_target)
),
per_boundary AS (
    SELECT
        g.fy,
        g.boundary,
        CASE WHEN a.months = 12 THEN a.t END AS actual_t,
        a.t AS to_date_t,
        a.months,
        CASE WHEN g.fy >= g.baseline_fy THEN g.baseline_t * power(1.0 - g.annual_reduction, g.fy - g.baseline_fy) END AS target_t,
        CASE WHEN g.fy >= g.baseline_fy AND g.fy <= g.net_zero_fy
             THEN g.baseline_t * (1.0 - CAST(g.fy - g.baseline_fy AS DOUBLE) / (g.net_zero_fy - g.baseline_fy)) END AS net_zero_path_t
    FROM grid g
    LEFT JOIN actual a ON a.fy = g.fy AND a.boundary = g.boundary
)
SELECT
    fy,
    CAST(fy AS VARCHAR) || '/' || lpad(CAST((fy + 1) % 100 AS VARCHAR), 2, '0') AS fy_label,
    MAX(CASE WHEN boundary = 'footprint' THEN actual_t END) AS footprint_actual,
    MAX(CASE WHEN boundary = 'footprint' THEN to_date_t END) AS footprint_to_date,
    MAX(CASE WHEN boundary = 'footprint' THEN target_t END) AS footprint_target,
    MAX(CASE WHEN boundary = 'footprint' THEN net_zero_path_t END) AS footprint_net_zero_path,
    MAX(CASE WHEN boundary = 'plus' THEN actual_t END) AS plus_actual,
    MAX(CASE WHEN boundary = 'plus' THEN to_date_t END) AS plus_to_date,
    MAX(CASE WHEN boundary = 'plus' THEN target_t END) AS plus_target,
    MAX(CASE WHEN boundary = 'plus' THEN net_zero_path_t END) AS plus_net_zero_path,
    MAX(months) AS months
FROM per_boundary
GROUP BY fy
ORDER BY fy
