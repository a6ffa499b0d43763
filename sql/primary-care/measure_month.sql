-- Every input of the dashboard in one shape — (month, practice, source, measure, numerator, denominator)
-- — so that an indicator is defined in configuration (config/primary-care/indicators.yaml names its
-- source and measure) rather than in SQL. A practice that did not submit a source in a month has no row
-- here: a gap, never a zero. Per-patient measures take the month's registered list as denominator.
WITH pop AS (
    SELECT month, practice_code, CAST(patients AS DOUBLE) AS patients
    FROM registered_population
),
gpad AS (
    SELECT
        month,
        practice_code,
        COUNT(*) AS appointments,
        SUM(CASE WHEN appointment_mode = 'Face-to-Face' THEN 1 ELSE 0 END) AS face_to_face,
        SUM(CASE WHEN appointment_mode IS NOT NULL AND appointment_mode <> 'Unknown' THEN 1 ELSE 0 END) AS known_mode,
        SUM(CASE WHEN appointment_status = 'DNA' THEN 1 ELSE 0 END) AS dna,
        SUM(CASE WHEN appointment_status IN ('Attended', 'DNA') THEN 1 ELSE 0 END) AS known_status,
        SUM(CASE WHEN booked_date = appointment_date THEN 1 ELSE 0 END) AS same_day
    FROM gp_appointments
    GROUP BY month, practice_code
),
inhalers AS (
    SELECT
        p.month,
        p.practice_code,
        SUM(CASE WHEN NOT p.salbutamol AND p.device_type = 'MDI' THEN p.items ELSE 0 END) AS other_mdi,
        SUM(CASE WHEN NOT p.salbutamol THEN p.items ELSE 0 END) AS other_items,
        SUM(p.items * f.kg_co2e_per_item) AS kg_co2e
    FROM inhaler_prescribing p
    LEFT JOIN inhaler_factors f ON f.product = p.product
    GROUP BY p.month, p.practice_code
),
-- The four appointment measures come from one reading of `gpad` (a CTE read four times is computed four
-- times: the largest input scanned four times); appointments per patient only where the list size is known.
gpad_measures AS (
    SELECT
        g.month,
        g.practice_code,
        m.measure,
        CASE m.measure
            WHEN 'appointments' THEN CAST(g.appointments AS DOUBLE)
            WHEN 'face_to_face' THEN CAST(g.face_to_face AS DOUBLE)
            WHEN 'dna' THEN CAST(g.dna AS DOUBLE)
            ELSE CAST(g.same_day AS DOUBLE)
        END AS numerator,
        CASE m.measure
            WHEN 'appointments' THEN pop.patients
            WHEN 'face_to_face' THEN CAST(g.known_mode AS DOUBLE)
            WHEN 'dna' THEN CAST(g.known_status AS DOUBLE)
            ELSE CAST(g.appointments AS DOUBLE)
        END AS denominator,
        pop.patients AS listed
    FROM gpad g
    CROSS JOIN (VALUES ('appointments'), ('face_to_face'), ('dna'), ('same_day')) AS m(measure)
    LEFT JOIN pop ON pop.month = g.month AND pop.practice_code = g.practice_code
)
SELECT month, practice_code, 'gpad' AS source, measure, numerator, denominator
FROM gpad_measures
WHERE measure <> 'appointments' OR listed IS NOT NULL
UNION ALL
SELECT month, practice_code, 'qof', indicator_code, CAST(numerator AS DOUBLE), CAST(denominator AS DOUBLE)
FROM qof_achievement
UNION ALL
SELECT month, practice_code, 'prescribing', 'non_salbutamol_mdi', CAST(other_mdi AS DOUBLE), CAST(other_items AS DOUBLE)
FROM inhalers
UNION ALL
SELECT i.month, i.practice_code, 'prescribing', 'carbon', CAST(i.kg_co2e AS DOUBLE), pop.patients
FROM inhalers i JOIN pop ON pop.month = i.month AND pop.practice_code = i.practice_code
UNION ALL
-- Dementia: the register against the number expected from prevalence; LD and SMI: checks among the register.
SELECT month, practice_code, 'registers', register,
       CAST(CASE WHEN register = 'dementia' THEN patients ELSE health_checks END AS DOUBLE),
       CAST(CASE WHEN register = 'dementia' THEN expected ELSE patients END AS DOUBLE)
FROM practice_registers
UNION ALL
SELECT month, practice_code, 'uptake', programme, CAST(covered AS DOUBLE), CAST(eligible AS DOUBLE)
FROM immunisation_screening
UNION ALL
SELECT month, practice_code, 'gpps', question, CAST(positive AS DOUBLE), CAST(responses AS DOUBLE)
FROM gp_patient_survey
UNION ALL
SELECT month, practice_code, 'fft', 'positive', CAST(positive AS DOUBLE), CAST(responses AS DOUBLE)
FROM friends_family_test
UNION ALL
SELECT s.month, s.practice_code, 'safety', 'incidents', CAST(s.incidents AS DOUBLE), pop.patients
FROM practice_incidents s JOIN pop ON pop.month = s.month AND pop.practice_code = s.practice_code
UNION ALL
SELECT s.month, s.practice_code, 'safety', 'complaints', CAST(s.complaints AS DOUBLE), pop.patients
FROM practice_incidents s JOIN pop ON pop.month = s.month AND pop.practice_code = s.practice_code
UNION ALL
SELECT w.month, w.practice_code, 'workforce', w.staff_group, CAST(w.fte AS DOUBLE), pop.patients
FROM practice_workforce w JOIN pop ON pop.month = w.month AND pop.practice_code = w.practice_code
