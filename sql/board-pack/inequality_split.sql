-- The health-inequalities lens: key metrics of each month shown split by deprivation (the IMD 2019
-- quintile of the patient's area; quintile 1 is the most deprived 20% nationally, Core20), by ethnic
-- group and by the Place of the patient's registered practice — as configured in
-- config/board-pack/inequalities.yaml. Each group has its numerator, denominator, rate and a 95% Wilson
-- score interval (wilson_lower / wilson_upper), so that a difference within noise is not read as a gap.
-- Records without the dimension (no IMD decile, no practice) form the group 'Not known', so that the
-- groups of a split always add up to the whole. The figures are kept whole here, for audit; the pack
-- applies small-number suppression (`protect`, src/disclosure.rs) to what it prints.
WITH snapshots AS (
    -- Waiting lists are snapshots at each month's end: whole days waited are counted to that date.
    SELECT month, practice_code, imd_decile, ethnic_group, clock_start AS waiting_since,
           CAST(month || '-01' AS DATE) + INTERVAL '1 month' - INTERVAL '1 day' AS snapshot_date,
           'rtt' AS list
    FROM rtt_waiting_list
    UNION ALL
    SELECT month, practice_code, imd_decile, ethnic_group, referral_date,
           CAST(month || '-01' AS DATE) + INTERVAL '1 month' - INTERVAL '1 day', 'dm01'
    FROM diagnostics_waiting_list
),
records AS (
    -- A&E: left within 4 hours of arrival.
    SELECT 'ae_4h' AS metric_id, month, practice_code, imd_decile, ethnic_group,
           CASE WHEN departure_time <= arrival_time + INTERVAL '4 hours' THEN 1 ELSE 0 END AS hit
    FROM ae_attendances
    UNION ALL
    -- Elective: waiting 19 whole weeks or more (133 days) at the month's end.
    SELECT 'rtt_over_18w', month, practice_code, imd_decile, ethnic_group,
           CASE WHEN waiting_since <= snapshot_date - INTERVAL '133 days' THEN 1 ELSE 0 END
    FROM snapshots WHERE list = 'rtt'
    UNION ALL
    -- Elective: waiting 52 whole weeks or more (364 days) at the month's end.
    SELECT 'rtt_over_52w', month, practice_code, imd_decile, ethnic_group,
           CASE WHEN waiting_since <= snapshot_date - INTERVAL '364 days' THEN 1 ELSE 0 END
    FROM snapshots WHERE list = 'rtt'
    UNION ALL
    -- Diagnostics: waiting 6 weeks (42 days) or more at the month's end.
    SELECT 'dm01_over_6w', month, practice_code, imd_decile, ethnic_group,
           CASE WHEN waiting_since <= snapshot_date - INTERVAL '42 days' THEN 1 ELSE 0 END
    FROM snapshots WHERE list = 'dm01'
    UNION ALL
    -- GP appointments not attended, of those attended or missed (status unknown left out).
    SELECT 'gp_dna', month, practice_code, imd_decile, ethnic_group,
           CASE WHEN appointment_status = 'DNA' THEN 1 ELSE 0 END
    FROM gp_appointments WHERE appointment_status IN ('Attended', 'DNA')
    UNION ALL
    -- Outpatient appointments not attended.
    SELECT 'op_dna', month, practice_code, imd_decile, ethnic_group,
           CASE WHEN attendance_status = 'DNA' THEN 1 ELSE 0 END
    FROM op_attendances
),
tagged AS (
    SELECT
        r.metric_id,
        r.month,
        r.hit,
        COALESCE(q.quintile, 0) AS quintile,
        COALESCE(q.label, 'Not known') AS imd_quintile,
        COALESCE(r.ethnic_group, 'Not known') AS ethnic_group,
        COALESCE(p.place, 'Not known') AS place,
        CASE WHEN pg.plus_group IS NOT NULL THEN pg.plus_group
             WHEN r.ethnic_group IS NULL OR r.ethnic_group = 'Not stated' THEN 'Not known'
             ELSE 'Everyone else' END AS plus_group
    FROM records r
    LEFT JOIN imd_quintiles q ON q.imd_decile = r.imd_decile
    LEFT JOIN practices p ON p.practice_code = r.practice_code
    LEFT JOIN plus_groups pg ON pg.ethnic_group = r.ethnic_group
    -- The thirteen months the pack shows (some inputs carry older months for other tables).
    WHERE CAST(r.month || '-01' AS DATE) > $period_start - INTERVAL '13 months'
      AND r.month <= $period
),
groups AS (
    SELECT metric_id, month, 'imd_quintile' AS dimension, imd_quintile AS group_label,
           MAX(quintile) AS quintile, SUM(hit) AS numerator, COUNT(*) AS denominator
    FROM tagged GROUP BY metric_id, month, imd_quintile
    UNION ALL
    SELECT metric_id, month, 'ethnic_group', ethnic_group, 0, SUM(hit), COUNT(*)
    FROM tagged GROUP BY metric_id, month, ethnic_group
    UNION ALL
    SELECT metric_id, month, 'place', place, 0, SUM(hit), COUNT(*) FROM tagged GROUP BY metric_id, month, place
    UNION ALL
    SELECT metric_id, month, 'plus_group', plus_group, 0, SUM(hit), COUNT(*)
    FROM tagged GROUP BY metric_id, month, plus_group
),
configured AS (
    SELECT g.*, c.name, c.improvement, c.min_denominator
    FROM groups g
    JOIN inequalities c ON c.metric_id = g.metric_id AND c.dimension = g.dimension
)
SELECT
    metric_id,
    month,
    name,
    dimension,
    group_label,
    quintile,
    improvement,
    numerator,
    denominator,
    CAST(numerator AS DOUBLE) / denominator AS rate,
    wilson_lower(numerator, denominator, 0.95) AS ci_lower,
    wilson_upper(numerator, denominator, 0.95) AS ci_upper,
    -- Fewer records than the configured minimum: the group's rate is too unstable to publish.
    denominator >= min_denominator AS enough
FROM configured
ORDER BY metric_id, dimension, month, quintile, group_label
