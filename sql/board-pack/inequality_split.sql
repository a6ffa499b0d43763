-- The health-inequalities lens: key metrics of each month shown split by deprivation (the IMD 2019
-- quintile of the patient's area; quintile 1 is the most deprived 20% nationally, Core20), by ethnic
-- group, by the Place of the patient's registered practice and by PLUS group — as configured in
-- config/board-pack/inequalities.yaml. Each group has its numerator, denominator, rate and a 95% interval:
-- Wilson's score interval for a proportion, the exact Poisson interval for a rate per patient, so that a
-- difference within noise is not read as a gap.
--
-- Two kinds of record feed it:
-- * patient records (A&E, waiting lists, appointments, cancer pathways) carry the patient's own IMD decile
--   and ethnic group; each record counts 1 in the denominator;
-- * practice figures (QOF, registers, emergency admissions per registered patient) have no patient
--   detail: they are split by the deprivation of the practice's patients (its mean IMD decile, rounded)
--   and by Place, and their ethnic group is 'Not known'. The pack says which basis each metric uses.
-- Records without the dimension form the group 'Not known', so that the groups of a split always add up
-- to the whole. The figures are kept whole here, for audit; the pack applies small-number suppression
-- (`protect`, src/disclosure.rs) to what it prints.
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
patient_records AS (
    -- A&E: left within 4 hours of arrival.
    SELECT 'ae_4h' AS metric_id, month, practice_code, imd_decile, ethnic_group,
           CASE WHEN departure_time <= arrival_time + INTERVAL '4 hours' THEN 1 ELSE 0 END AS numerator
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
    SELECT 'appt_dna', month, practice_code, imd_decile, ethnic_group,
           CASE WHEN appointment_status = 'DNA' THEN 1 ELSE 0 END
    FROM gp_appointments WHERE appointment_status IN ('Attended', 'DNA')
    UNION ALL
    -- Outpatient appointments not attended.
    SELECT 'op_dna', month, practice_code, imd_decile, ethnic_group,
           CASE WHEN attendance_status = 'DNA' THEN 1 ELSE 0 END
    FROM op_attendances
    UNION ALL
    -- Cancers diagnosed in the month at stage 1 or 2, of those with a known stage.
    SELECT 'cancer_early_stage', month, practice_code, imd_decile, ethnic_group,
           CASE WHEN stage_at_diagnosis IN ('1', '2') THEN 1 ELSE 0 END
    FROM cancer_pathways
    WHERE cancer_diagnosed AND stage_at_diagnosis IN ('1', '2', '3', '4')
      AND diagnosis_date >= CAST(month || '-01' AS DATE)
      AND diagnosis_date < CAST(month || '-01' AS DATE) + INTERVAL '1 month'
),
practice_figures AS (
    -- Core20PLUS5 clinical areas from the practices' returns: hypertension controlled (QOF HYP008),
    -- diabetes HbA1c controlled (QOF DM020), SMI physical health checks (register).
    SELECT 'qof_hyp' AS metric_id, month, practice_code,
           CAST(numerator AS DOUBLE) AS numerator, CAST(denominator AS DOUBLE) AS denominator
    FROM qof_achievement WHERE indicator_code = 'HYP008'
    UNION ALL
    SELECT 'qof_dm', month, practice_code, CAST(numerator AS DOUBLE), CAST(denominator AS DOUBLE)
    FROM qof_achievement WHERE indicator_code = 'DM020'
    UNION ALL
    SELECT 'smi_checks_registers', month, practice_code, CAST(health_checks AS DOUBLE), CAST(patients AS DOUBLE)
    FROM practice_registers WHERE register = 'serious_mental_illness'
    UNION ALL
    -- Emergency (non-elective) admissions per registered patient in the month.
    SELECT 'emergency_admissions', r.month, r.practice_code,
           CAST(COALESCE(a.spells, 0) AS DOUBLE), CAST(r.patients AS DOUBLE)
    FROM registered_population r
    LEFT JOIN (
        SELECT month, practice_code, COUNT(*) AS spells
        FROM apc_spells WHERE point_of_delivery = 'NEL' GROUP BY month, practice_code
    ) a ON a.month = r.month AND a.practice_code = r.practice_code
),
records AS (
    SELECT metric_id, month, practice_code, imd_decile, ethnic_group,
           CAST(numerator AS DOUBLE) AS numerator, 1.0 AS denominator
    FROM patient_records
    UNION ALL
    SELECT f.metric_id, f.month, f.practice_code, CAST(round(p.imd_decile) AS BIGINT), NULL,
           f.numerator, f.denominator
    FROM practice_figures f
    LEFT JOIN practices p ON p.practice_code = f.practice_code
),
tagged AS (
    SELECT
        r.metric_id,
        r.month,
        r.numerator,
        r.denominator,
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
split AS (
    -- Each record once per dimension, so that `tagged` (every patient record of seven inputs) is read
    -- once, not once per dimension: DataFusion recomputes a CTE at each reference.
    SELECT t.metric_id, t.month, d.dimension,
           CASE d.dimension WHEN 'imd_quintile' THEN t.imd_quintile
                            WHEN 'ethnic_group' THEN t.ethnic_group
                            WHEN 'place' THEN t.place
                            ELSE t.plus_group END AS group_label,
           CASE WHEN d.dimension = 'imd_quintile' THEN t.quintile ELSE 0 END AS quintile,
           t.numerator, t.denominator
    FROM tagged t
    CROSS JOIN (VALUES ('imd_quintile'), ('ethnic_group'), ('place'), ('plus_group')) AS d(dimension)
),
groups AS (
    SELECT metric_id, month, dimension, group_label,
           MAX(quintile) AS quintile, SUM(numerator) AS numerator, SUM(denominator) AS denominator
    FROM split GROUP BY metric_id, month, dimension, group_label
),
configured AS (
    SELECT g.*, c.name, c.direction AS improvement, c.measure, c.basis, c.per, c.min_denominator
    FROM groups g
    JOIN inequalities c ON c.metric_id = g.metric_id AND c.dimension = g.dimension
    WHERE g.denominator > 0
)
SELECT
    metric_id,
    month,
    name,
    dimension,
    group_label,
    quintile,
    improvement,
    measure,
    basis,
    per,
    numerator,
    denominator,
    numerator / denominator AS rate,
    CASE WHEN measure = 'rate' THEN poisson_lower(numerator, denominator, 0.95)
         ELSE wilson_lower(numerator, denominator, 0.95) END AS ci_lower,
    CASE WHEN measure = 'rate' THEN poisson_upper(numerator, denominator, 0.95)
         ELSE wilson_upper(numerator, denominator, 0.95) END AS ci_upper,
    -- Fewer than the configured minimum in the denominator: the group's rate is too unstable to publish.
    denominator >= min_denominator AS enough
FROM configured
ORDER BY metric_id, dimension, month, quintile, group_label
