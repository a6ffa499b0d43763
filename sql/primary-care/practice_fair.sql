-- Practices compared fairly for the deprivation of the people they serve (the health-inequalities lens).
-- Stated method: a funnel plot within deprivation bands. Each practice's band is the IMD 2019 quintile of
-- its patients' mean decile (reference data; 1 = most deprived). For every indicator with a funnel, the
-- band's rate is recomputed from the numerators and denominators of the band's submitting practices, and
-- each practice is placed against that rate with the same exact limits as against the ICB
-- (`funnel_position`, src/stats.rs; levels from config/primary-care/rag.yaml). A practice outside the ICB's
-- limits but inside its band's differs from the ICB about as much as practices serving similar populations
-- do: the difference goes with deprivation, not with the practice.
-- The profile: the share of the practice's patients seen in the period who live in the most deprived 20%
-- of areas (Core20), from the patient IMD deciles of its GP appointments.
WITH profile AS (
    SELECT
        practice_code,
        CAST(SUM(CASE WHEN imd_decile IN (1, 2) THEN 1 ELSE 0 END) AS DOUBLE) / COUNT(*) AS core20_share,
        AVG(CAST(imd_decile AS DOUBLE)) AS patients_mean_decile
    FROM gp_appointments
    WHERE appointment_date BETWEEN $period_start AND $period_end AND imd_decile IS NOT NULL
    GROUP BY practice_code
),
banded AS (
    SELECT
        f.practice_code, f.practice_name, f.pcn_code, f.place, f.indicator_id, f.indicator_short,
        f.indicator_order, f.funnel, f.direction, f."key", f.scale, f.unit, f.submitted,
        f.numerator, f.denominator, f.value, f.icb_value, f.side AS icb_side, f.outside_outer AS icb_outside_outer,
        CAST((CAST(round(p.imd_decile) AS BIGINT) + 1) / 2 AS BIGINT) AS band
    FROM practice_funnel f
    JOIN practices p ON p.practice_code = f.practice_code
    WHERE f.funnel <> 'none'
),
band_rate AS (
    SELECT indicator_id, band, SUM(numerator) / SUM(denominator) AS band_value, COUNT(*) AS band_practices
    FROM banded WHERE submitted AND denominator > 0
    GROUP BY indicator_id, band
),
placed AS (
    SELECT
        b.*,
        r.band_value,
        r.band_practices,
        CASE WHEN b.submitted AND b.denominator > 0
             THEN funnel_position(b.funnel, r.band_value, b.numerator, b.denominator, g.outer_level) END AS band_position
    FROM banded b
    JOIN band_rate r ON r.indicator_id = b.indicator_id AND r.band = b.band
    CROSS JOIN rag_rule g
)
SELECT
    p.*,
    CASE
        WHEN band_position IS NULL OR band_position = 0 THEN NULL
        WHEN direction = 'neutral' THEN 'different'
        WHEN (band_position < 0) = (direction = 'increase') THEN 'worse'
        ELSE 'better'
    END AS band_side,
    pr.core20_share,
    pr.patients_mean_decile
FROM placed p
LEFT JOIN profile pr ON pr.practice_code = p.practice_code
ORDER BY indicator_order, band, practice_code
