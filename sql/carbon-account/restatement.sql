-- A restatement: when this period was published before, its tCO2e by category and organisation then
-- (`previous_period_figures`, the previously published run's result) and now, and the difference. No
-- rows when the period has not been published before.
WITH now AS (
    SELECT account_category, org_code, SUM(t_period) AS t FROM period_figures GROUP BY account_category, org_code
),
before AS (
    SELECT account_category, org_code, SUM(t_period) AS t FROM previous_period_figures GROUP BY account_category, org_code
)
SELECT
    COALESCE(n.account_category, b.account_category) AS account_category,
    COALESCE(n.org_code, b.org_code) AS org_code,
    b.t AS t_old,
    n.t AS t_new,
    COALESCE(n.t, 0) - COALESCE(b.t, 0) AS t_difference,
    (SELECT MIN(run_id) FROM previous_run_files) AS previous_run_id
FROM now n
FULL OUTER JOIN before b ON b.account_category = n.account_category AND b.org_code = n.org_code
WHERE EXISTS (SELECT 1 FROM previous_run_files)
ORDER BY account_category, org_code
