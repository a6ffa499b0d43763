-- Statistical process control (Making Data Count) of each indicator's ICB series over the months of
-- area_trend: one row per indicator per month with the point's mean, process limits and point type, and the
-- series' variation (the dashboard's "Trend" icon) and assurance against the indicator's target. Computed by
-- the `spc` window function (src/spc_sql.rs) on `display_value`, the scale the charts draw (a ratio for
-- percentages, per 1,000 for rates; the judgement does not depend on the scale), so the ICB trend charts and
-- the icons come from the same figures. The target is put on the same scale.
WITH judged AS (
    SELECT
        t.indicator_id,
        t.month,
        t.numerator,
        t.denominator,
        t.value,
        t.display_value,
        spc(t.indicator_id, t.display_value, i.direction,
            CASE WHEN i.unit = 'percent' THEN i.standard ELSE i.standard * i.scale END)
            OVER (PARTITION BY t.indicator_id ORDER BY t.month
                  ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) AS s
    FROM area_trend t
    JOIN indicators i ON i.id = t.indicator_id
    WHERE t.level = 'ICB'
)
SELECT
    indicator_id,
    month,
    numerator,
    denominator,
    value,
    display_value,
    s['mean'] AS mean,
    s['lower'] AS lower,
    s['upper'] AS upper,
    s['point_type'] AS point_type,
    s['rule'] AS rule,
    s['segment'] AS segment,
    s['variation'] AS variation,
    s['assurance'] AS assurance,
    s['too_short'] AS too_short
FROM judged
ORDER BY indicator_id, month
