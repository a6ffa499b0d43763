-- The finance summary in £000s: budget, actual and under/(over) spend (budget − actual: an overspend is
-- negative and prints in brackets) per budget line of config/board-pack/finance_lines.yaml, for the
-- reporting month and the financial year to date, then the total of commissioning services and the
-- total net expenditure. Each figure's variance band (config/board-pack/finance_bands.yaml) follows the
-- size of the under/(over) spend as a share of the budget. A year to date with a month missing is NULL.
WITH p AS (
    SELECT CAST(substr($period, 1, 4) AS INT) * 12 + CAST(substr($period, 6, 2) AS INT) - 1 AS pmi
),
b AS (
    SELECT pmi, pmi - (pmi % 12 + 9) % 12 AS fy_start FROM p
),
ledger AS (
    SELECT budget_line, budget, actual,
           CAST(substr(month, 1, 4) AS INT) * 12 + CAST(substr(month, 6, 2) AS INT) - 1 AS mi
    FROM finance_ledger
),
per_line AS (
    SELECT
        c.ord, c.line, c.section,
        SUM(CASE WHEN l.mi = b.pmi THEN l.budget END) AS month_budget,
        SUM(CASE WHEN l.mi = b.pmi THEN l.actual END) AS month_actual,
        SUM(CASE WHEN l.mi BETWEEN b.fy_start AND b.pmi THEN l.budget END) AS ytd_budget,
        SUM(CASE WHEN l.mi BETWEEN b.fy_start AND b.pmi THEN l.actual END) AS ytd_actual,
        COUNT(DISTINCT CASE WHEN l.mi BETWEEN b.fy_start AND b.pmi THEN l.mi END)
            = MAX(b.pmi - b.fy_start + 1) AS ytd_complete
    FROM finance_lines c
    CROSS JOIN b
    LEFT JOIN ledger l ON l.budget_line = c.line
    GROUP BY c.ord, c.line, c.section
),
rows AS (
    SELECT ord, line AS label, false AS is_total, month_budget, month_actual,
           CASE WHEN ytd_complete THEN ytd_budget END AS ytd_budget,
           CASE WHEN ytd_complete THEN ytd_actual END AS ytd_actual
    FROM per_line
    UNION ALL
    SELECT 9, 'Total commissioning services', true, SUM(month_budget), SUM(month_actual),
           CASE WHEN bool_and(ytd_complete) THEN SUM(ytd_budget) END,
           CASE WHEN bool_and(ytd_complete) THEN SUM(ytd_actual) END
    FROM per_line WHERE section = 'commissioning'
    UNION ALL
    SELECT 99, 'Total net expenditure', true, SUM(month_budget), SUM(month_actual),
           CASE WHEN bool_and(ytd_complete) THEN SUM(ytd_budget) END,
           CASE WHEN bool_and(ytd_complete) THEN SUM(ytd_actual) END
    FROM per_line
),
v AS (
    SELECT *,
           month_budget - month_actual AS month_under_over,
           (month_budget - month_actual) / NULLIF(month_budget, 0) AS month_pct,
           ytd_budget - ytd_actual AS ytd_under_over,
           (ytd_budget - ytd_actual) / NULLIF(ytd_budget, 0) AS ytd_pct
    FROM rows
)
SELECT
    v.ord, v.label, v.is_total,
    v.month_budget, v.month_actual, v.month_under_over, v.month_pct,
    fm.band AS month_band,
    v.ytd_budget, v.ytd_actual, v.ytd_under_over, v.ytd_pct,
    fy.band AS ytd_band
FROM v
LEFT JOIN finance_bands fm ON ABS(v.month_pct) > fm.above AND ABS(v.month_pct) <= fm.up_to
LEFT JOIN finance_bands fy ON ABS(v.ytd_pct) > fy.above AND ABS(v.ytd_pct) <= fy.up_to
ORDER BY v.ord
