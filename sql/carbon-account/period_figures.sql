-- tCO2e by NHS boundary, account category, organisation and scope: the period, the year to date, the
-- same months last year, the same months of the baseline year, the baseline year, and the trajectory's
-- target for the period (the baseline's same months reduced by the boundary's annual rate, compounded
-- for each year since the baseline). `t_estimated` is the part of the period's figure from proxies.
SELECT
    e.boundary,
    e.account_category,
    e.org_code,
    e.scope,
    SUM(CASE WHEN mo.in_period THEN e.kgco2e END) / 1000.0 AS t_period,
    SUM(CASE WHEN mo.in_ytd THEN e.kgco2e END) / 1000.0 AS t_ytd,
    SUM(CASE WHEN mo.in_period_ly THEN e.kgco2e END) / 1000.0 AS t_period_ly,
    SUM(CASE WHEN mo.in_ytd_ly THEN e.kgco2e END) / 1000.0 AS t_ytd_ly,
    SUM(CASE WHEN mo.in_baseline_period THEN e.kgco2e END) / 1000.0 AS t_baseline_period,
    SUM(CASE WHEN mo.in_baseline_ytd THEN e.kgco2e END) / 1000.0 AS t_baseline_ytd,
    SUM(CASE WHEN mo.in_baseline_year THEN e.kgco2e END) / 1000.0 AS t_baseline_year,
    SUM(CASE WHEN mo.in_baseline_period THEN e.kgco2e END) / 1000.0
        * power(1.0 - t.annual_reduction, MAX(mo.period_fy) - t.baseline_fy) AS t_target_period,
    SUM(CASE WHEN mo.in_baseline_ytd THEN e.kgco2e END) / 1000.0
        * power(1.0 - t.annual_reduction, MAX(mo.period_fy) - t.baseline_fy) AS t_target_ytd,
    SUM(CASE WHEN mo.in_period AND e.method <> 'reported' AND e.method NOT LIKE 'apportioned%' THEN e.kgco2e END) / 1000.0 AS t_estimated
FROM emissions e
JOIN months mo ON mo.month = e.month
JOIN trajectory t ON t.boundary = e.boundary
GROUP BY e.boundary, e.account_category, e.org_code, e.scope, t.annual_reduction, t.baseline_fy
ORDER BY e.boundary, e.account_category, e.org_code, e.scope
