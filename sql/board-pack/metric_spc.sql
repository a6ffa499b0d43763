-- Statistical process control (Making Data Count) of every metric over the months of metric_month: one row
-- per metric per month with the point's mean, process limits, point type and special-cause rule, and the
-- series' variation and assurance icons. Computed by the `spc` window function (src/spc_sql.rs, the method
-- of src/spc.rs) with each metric's improvement direction and standard from the `metrics` seed; the charts
-- and every verdict of the pack read this table, so the two cannot disagree.
-- The numerator and denominator are kept beside the value so that a value copied from a suppressed count
-- is withheld with it (disclosure.counts in pipelines/board-pack.yaml).
WITH judged AS (
    SELECT
        mm.metric_id,
        mm.month,
        mm.numerator,
        mm.denominator,
        mm.value,
        spc(mm.metric_id, mm.value, k.direction, k.standard)
            OVER (PARTITION BY mm.metric_id ORDER BY mm.month
                  ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) AS s
    FROM metric_month mm
    JOIN metrics k ON k.id = mm.metric_id
)
SELECT
    metric_id,
    month,
    numerator,
    denominator,
    value,
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
ORDER BY metric_id, month
