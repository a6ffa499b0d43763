-- Acute activity per line of config/board-pack/activity_lines.yaml, for the reporting month and the
-- financial year to date, against the line's comparator: the same period a year before (`last_year`) or
-- the operational plan (`plan`). A total line is the sum of its parts. Variance = actual − comparator;
-- %variance = variance / comparator. A year to date with any month missing (of the actuals or the
-- comparator) is NULL, never a partial sum.
WITH p AS (
    SELECT CAST(substr($period, 1, 4) AS INT) * 12 + CAST(substr($period, 6, 2) AS INT) - 1 AS pmi
),
b AS (
    -- Month indexes: the reporting month and the April that starts its financial year.
    SELECT pmi, pmi - (pmi % 12 + 9) % 12 AS fy_start FROM p
),
members AS (
    SELECT id AS line, id AS leaf FROM activity_lines
    UNION ALL
    SELECT parent AS line, id AS leaf FROM activity_lines WHERE parent <> ''
),
actuals AS (
    SELECT line, actual AS value,
           CAST(substr(month, 1, 4) AS INT) * 12 + CAST(substr(month, 6, 2) AS INT) - 1 AS mi
    FROM activity_month
),
planned AS (
    SELECT plan_line AS line, SUM(planned_value) AS value,
           CAST(substr(month, 1, 4) AS INT) * 12 + CAST(substr(month, 6, 2) AS INT) - 1 AS mi
    FROM operational_plan
    WHERE plan_line IN (SELECT id FROM activity_lines)
    GROUP BY plan_line, month
),
a AS (
    SELECT
        m.line,
        SUM(CASE WHEN x.mi = b.pmi THEN x.value END) AS month_actual,
        SUM(CASE WHEN x.mi = b.pmi - 12 THEN x.value END) AS month_last_year,
        SUM(CASE WHEN x.mi BETWEEN b.fy_start AND b.pmi THEN x.value END) AS ytd_actual,
        SUM(CASE WHEN x.mi BETWEEN b.fy_start - 12 AND b.pmi - 12 THEN x.value END) AS ytd_last_year,
        COUNT(DISTINCT CASE WHEN x.mi BETWEEN b.fy_start AND b.pmi THEN x.mi END) AS ytd_months,
        COUNT(DISTINCT CASE WHEN x.mi BETWEEN b.fy_start - 12 AND b.pmi - 12 THEN x.mi END) AS ytd_last_year_months
    FROM members m
    JOIN actuals x ON x.line = m.leaf
    CROSS JOIN b
    GROUP BY m.line
),
pl AS (
    SELECT
        m.line,
        SUM(CASE WHEN x.mi = b.pmi THEN x.value END) AS month_plan,
        SUM(CASE WHEN x.mi BETWEEN b.fy_start AND b.pmi THEN x.value END) AS ytd_plan,
        COUNT(DISTINCT CASE WHEN x.mi BETWEEN b.fy_start AND b.pmi THEN x.mi END) AS ytd_plan_months
    FROM members m
    JOIN planned x ON x.line = m.leaf
    CROSS JOIN b
    GROUP BY m.line
),
lines AS (
    SELECT
        s.ord,
        s.id AS line,
        s.label,
        s.parent,
        s.compare,
        b.pmi - b.fy_start + 1 AS ytd_months_expected,
        a.month_actual,
        CASE WHEN a.ytd_months = b.pmi - b.fy_start + 1 THEN a.ytd_actual END AS ytd_actual,
        CASE WHEN s.compare = 'plan' THEN pl.month_plan ELSE a.month_last_year END AS month_comparator,
        CASE
            WHEN s.compare = 'plan' AND pl.ytd_plan_months = b.pmi - b.fy_start + 1 THEN pl.ytd_plan
            WHEN s.compare = 'last_year' AND a.ytd_last_year_months = b.pmi - b.fy_start + 1 THEN a.ytd_last_year
        END AS ytd_comparator
    FROM activity_lines s
    CROSS JOIN b
    LEFT JOIN a ON a.line = s.id
    LEFT JOIN pl ON pl.line = s.id
)
SELECT
    ord, line, label, parent, compare, ytd_months_expected,
    month_comparator, month_actual,
    month_actual - month_comparator AS month_variance,
    (month_actual - month_comparator) / NULLIF(month_comparator, 0) AS month_pct_variance,
    ytd_comparator, ytd_actual,
    ytd_actual - ytd_comparator AS ytd_variance,
    (ytd_actual - ytd_comparator) / NULLIF(ytd_comparator, 0) AS ytd_pct_variance
FROM lines
ORDER BY ord
