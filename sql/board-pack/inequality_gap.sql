-- The deprivation gap of each metric split by IMD quintile (from inequality_split), per month:
--   gap_absolute  rate in quintile 1 (most deprived) minus rate in quintile 5 (least deprived)
--   gap_relative  rate in quintile 1 divided by rate in quintile 5
--   gap_lower, gap_upper  95% interval of the absolute gap (Newcombe's hybrid score method, from the two
--                 Wilson intervals); `significant` when it excludes zero — otherwise the gap is within noise
--   sii           slope index of inequality: the modelled difference in rate between the most and the
--                 least deprived ends of the population, from a regression of the quintiles' rates on the
--                 midpoint of their cumulative population share (least deprived first), weighted by the
--                 quintiles' denominators. Positive: the rate is higher in more deprived areas.
--   ends_enough   both end quintiles have the metric's minimum denominator: otherwise the split table prints
--                 "Too few" for the one that has not, and this table publishes neither its rate nor the gap
--                 (one figure, one value: not "Too few" on one page and a rate on another)
WITH q AS (
    SELECT metric_id, month, name, improvement, measure, per, basis, numerator, denominator, rate, ci_lower, ci_upper, quintile, enough
    FROM inequality_split
    WHERE dimension = 'imd_quintile' AND quintile BETWEEN 1 AND 5 AND denominator > 0
),
overall AS (
    -- The whole population of the split, 'Not known' included: the groups add up to it.
    SELECT metric_id, month, CAST(SUM(numerator) AS DOUBLE) / SUM(denominator) AS overall_rate
    FROM inequality_split WHERE dimension = 'imd_quintile' GROUP BY metric_id, month
),
ranked AS (
    SELECT
        metric_id, month, quintile, rate, CAST(denominator AS DOUBLE) AS w,
        (SUM(CAST(denominator AS DOUBLE)) OVER (
            PARTITION BY metric_id, month ORDER BY quintile DESC ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
        ) - CAST(denominator AS DOUBLE) / 2.0)
        / SUM(CAST(denominator AS DOUBLE)) OVER (PARTITION BY metric_id, month) AS x
    FROM q
),
means AS (
    SELECT metric_id, month, SUM(w * x) / SUM(w) AS x_bar, SUM(w * rate) / SUM(w) AS y_bar
    FROM ranked GROUP BY metric_id, month
),
sii AS (
    SELECT
        r.metric_id,
        r.month,
        SUM(r.w * (r.x - m.x_bar) * (r.rate - m.y_bar)) / SUM(r.w * (r.x - m.x_bar) * (r.x - m.x_bar)) AS sii
    FROM ranked r JOIN means m ON m.metric_id = r.metric_id AND m.month = r.month
    GROUP BY r.metric_id, r.month
),
ends AS (
    SELECT
        most.metric_id,
        most.month,
        most.name,
        most.improvement,
        most.measure,
        most.per,
        most.basis,
        most.enough AND least.enough AS ends_enough,
        CASE WHEN most.enough AND least.enough THEN most.rate END AS most_deprived_rate,
        CASE WHEN most.enough AND least.enough THEN least.rate END AS least_deprived_rate,
        CASE WHEN most.enough AND least.enough THEN most.rate - least.rate END AS gap_absolute,
        CASE WHEN most.enough AND least.enough AND least.rate > 0 THEN most.rate / least.rate END AS gap_relative,
        CASE WHEN most.enough AND least.enough THEN
        most.rate - least.rate
            - sqrt((most.rate - most.ci_lower) * (most.rate - most.ci_lower)
                   + (least.ci_upper - least.rate) * (least.ci_upper - least.rate)) END AS gap_lower,
        CASE WHEN most.enough AND least.enough THEN
        most.rate - least.rate
            + sqrt((most.ci_upper - most.rate) * (most.ci_upper - most.rate)
                   + (least.rate - least.ci_lower) * (least.rate - least.ci_lower)) END AS gap_upper
    FROM q most
    JOIN q least ON least.metric_id = most.metric_id AND least.month = most.month AND least.quintile = 5
    WHERE most.quintile = 1
)
SELECT
    e.metric_id, e.month, e.name, e.improvement, e.measure, e.per, e.basis, e.ends_enough, o.overall_rate, e.most_deprived_rate, e.least_deprived_rate,
    e.gap_absolute, e.gap_relative, e.gap_lower, e.gap_upper,
    COALESCE(e.gap_lower > 0 OR e.gap_upper < 0, false) AS significant,
    s.sii
FROM ends e
LEFT JOIN sii s ON s.metric_id = e.metric_id AND s.month = e.month
JOIN overall o ON o.metric_id = e.metric_id AND o.month = e.month
ORDER BY e.metric_id, e.month
