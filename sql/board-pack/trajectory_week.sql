-- Weekly trajectory monitoring for the trajectories whose actual can be counted by week from record-level
-- data (ambulance handovers within 15 and 30 minutes and over 60 minutes; A&E attendances over 12 hours
-- from arrival): the last six whole weeks (Monday to Sunday) ending on or before the reporting month's
-- end, each against the plan's target for the month in which the week starts. Variance = actual −
-- target, in percentage points for a ratio. A week that runs past the month's end is left out: its days
-- after the month are not in this run's data.
WITH weekly AS (
    SELECT 'amb_15' AS metric_id, CAST(date_trunc('week', arrival_time) AS DATE) AS week_commencing,
           CAST(SUM(CASE WHEN handover_time <= arrival_time + INTERVAL '15 minutes' THEN 1 ELSE 0 END) AS DOUBLE)
               / COUNT(*) AS actual
    FROM ambulance_handovers GROUP BY 2
    UNION ALL
    SELECT 'amb_30', CAST(date_trunc('week', arrival_time) AS DATE),
           CAST(SUM(CASE WHEN handover_time <= arrival_time + INTERVAL '30 minutes' THEN 1 ELSE 0 END) AS DOUBLE)
               / COUNT(*)
    FROM ambulance_handovers GROUP BY 2
    UNION ALL
    SELECT 'amb_60', CAST(date_trunc('week', arrival_time) AS DATE),
           CAST(SUM(CASE WHEN handover_time > arrival_time + INTERVAL '60 minutes' THEN 1 ELSE 0 END) AS DOUBLE)
    FROM ambulance_handovers GROUP BY 2
    UNION ALL
    SELECT 'ae_12h_arrival', CAST(date_trunc('week', arrival_time) AS DATE),
           CAST(SUM(CASE WHEN departure_time > arrival_time + INTERVAL '12 hours' THEN 1 ELSE 0 END) AS DOUBLE)
               / COUNT(*)
    FROM ae_attendances GROUP BY 2
),
recent AS (
    SELECT * FROM weekly
    WHERE week_commencing + INTERVAL '6 days' <= $period_end
      AND week_commencing > $period_end - INTERVAL '49 days'
)
SELECT
    r.metric_id,
    r.week_commencing,
    r.actual,
    t.planned_value AS target,
    r.actual - t.planned_value AS variance,
    CASE WHEN k.direction = 'increase' THEN r.actual >= t.planned_value
         ELSE r.actual <= t.planned_value END AS on_track
FROM recent r
JOIN metrics k ON k.id = r.metric_id
JOIN operational_plan t
  ON t.plan_line = r.metric_id AND t.provider_code = $icb_code
 AND t.month = to_char(r.week_commencing, '%Y-%m')
ORDER BY r.metric_id, r.week_commencing
