-- Returns not received, by category and quarter (by year for annual travel surveys), with the
-- organisations concerned: the months proxied (and how) and the months still missing. Printed in the
-- account; never silent.
WITH lines AS (
    SELECT a.org_code, a.category, a.month, a.method, m.fy, m.fy_label, m.quarter
    FROM activity a JOIN months m ON m.month = a.month
    WHERE a.method LIKE 'proxy%'
),
started AS (
    SELECT org_code, category, MIN(month) AS first_month FROM activity WHERE method <> 'proxy: same month last year' GROUP BY org_code, category
),
category_months AS (
    SELECT DISTINCT a.category, a.month FROM activity a
    UNION
    -- Every month of the period for the monthly returns (as in `activity`): a month nobody returned and
    -- nothing proxies is listed as missing for every organisation that returns the category (procurement
    -- once a quarter, under the quarter's first month).
    SELECT c.category, m.month
    FROM (SELECT DISTINCT category FROM activity WHERE category <> 'personal_travel') c
    CROSS JOIN months m
    WHERE m.in_period AND (c.category <> 'procurement' OR m.fym % 3 = 1)
),
missing AS (
    SELECT s.org_code, s.category, cm.month, 'missing: no return and nothing to proxy from' AS method
    FROM started s
    JOIN category_months cm ON cm.category = s.category AND cm.month > s.first_month
    LEFT JOIN (SELECT DISTINCT org_code, category, month FROM activity) p
        ON p.org_code = s.org_code AND p.category = s.category AND p.month = cm.month
    WHERE p.org_code IS NULL
),
gaps AS (
    SELECT org_code, category, month, method FROM lines
    UNION ALL
    SELECT org_code, category, month, method FROM missing
)
SELECT
    array_to_string(array_sort(array_agg(DISTINCT g.org_code)), ', ') AS orgs,
    g.category,
    m.fy,
    m.fy_label,
    -- Annual sources (travel surveys) are listed by year, monthly returns by quarter.
    CASE WHEN g.category = 'personal_travel' THEN NULL ELSE m.quarter END AS quarter,
    g.method,
    COUNT(DISTINCT g.month) AS months,
    MIN(g.month) AS first_month,
    MAX(g.month) AS last_month,
    bool_or(m.in_period) AS in_period,
    bool_or(m.in_period OR m.in_ytd OR m.in_period_ly OR m.in_ytd_ly OR m.in_baseline_year) AS affects_account
FROM gaps g JOIN months m ON m.month = g.month
GROUP BY g.category, m.fy, m.fy_label, CASE WHEN g.category = 'personal_travel' THEN NULL ELSE m.quarter END, g.method
ORDER BY m.fy, quarter, g.category, orgs
