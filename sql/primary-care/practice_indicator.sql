-- Every indicator for every practice over the reporting period (a month or a quarter, $period_start to
-- $period_end). Flows add up over the period's months; snapshots take the period's last month. A practice
-- counts as submitted only if it submitted every month a flow needs (or the last month, for a snapshot):
-- a partial quarter is not shown as if it were whole.
WITH period_months AS (
    SELECT DISTINCT month FROM registered_population
    WHERE CAST(month || '-01' AS DATE) BETWEEN $period_start AND $period_end
),
bounds AS (
    SELECT COUNT(*) AS months, MAX(month) AS last_month FROM period_months
),
rows_in_period AS (
    SELECT pm.*, i.aggregation, (pm.month = b.last_month) AS is_last, b.months
    FROM practice_month pm
    JOIN period_months USING (month)
    JOIN indicators i ON i.id = pm.indicator_id
    CROSS JOIN bounds b
),
per AS (
    SELECT
        practice_code,
        indicator_id,
        MAX(aggregation) AS aggregation,
        MAX(months) AS months,
        SUM(CASE WHEN submitted AND (aggregation = 'flow' OR is_last) THEN 1 ELSE 0 END) AS months_submitted,
        SUM(CASE WHEN aggregation = 'flow' OR is_last THEN numerator END) AS numerator,
        SUM(CASE WHEN aggregation = 'flow' OR is_last THEN denominator END) AS denominator
    FROM rows_in_period
    GROUP BY practice_code, indicator_id
),
judged AS (
    SELECT
        per.*,
        months_submitted = CASE WHEN aggregation = 'flow' THEN months ELSE 1 END AS submitted
    FROM per
)
SELECT
    j.practice_code,
    p.practice_name,
    p.pcn_code,
    p.pcn_name,
    p.place,
    p.imd_decile,
    j.indicator_id,
    CASE WHEN j.submitted THEN j.numerator END AS numerator,
    CASE WHEN j.submitted THEN j.denominator END AS denominator,
    CASE WHEN j.submitted AND j.denominator > 0 THEN j.numerator / j.denominator END AS value,
    j.submitted,
    j.months_submitted,
    j.months
FROM judged j
JOIN practices p ON p.practice_code = j.practice_code
ORDER BY p.place, p.pcn_code, j.practice_code, j.indicator_id
