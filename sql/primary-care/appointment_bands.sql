-- Time from booking to appointment in the reporting period, in the bands of the GPAD publication, for
-- the ICB and each PCN.
WITH appts AS (
    SELECT
        p.pcn_code,
        p.pcn_name,
        CASE
            WHEN a.booked_date IS NULL THEN NULL
            ELSE CAST(a.appointment_date AS INT) - CAST(a.booked_date AS INT)
        END AS days
    FROM gp_appointments a
    JOIN practices p ON p.practice_code = a.practice_code
    WHERE a.appointment_date BETWEEN $period_start AND $period_end
),
banded AS (
    SELECT
        pcn_code,
        pcn_name,
        CASE
            WHEN days IS NULL OR days < 0 THEN 8
            WHEN days = 0 THEN 1
            WHEN days = 1 THEN 2
            WHEN days <= 7 THEN 3
            WHEN days <= 14 THEN 4
            WHEN days <= 21 THEN 5
            WHEN days <= 28 THEN 6
            ELSE 7
        END AS band_order
    FROM appts
),
levels AS (
    SELECT 'ICB' AS level, 'ICB' AS area_code, 'ICB' AS area_name, band_order FROM banded
    UNION ALL
    SELECT 'PCN', pcn_code, pcn_name, band_order FROM banded
),
counted AS (
    SELECT level, area_code, MAX(area_name) AS area_name, band_order, COUNT(*) AS appointments
    FROM levels
    GROUP BY level, area_code, band_order
)
SELECT
    counted.*,
    CASE band_order
        WHEN 1 THEN 'Same day'
        WHEN 2 THEN '1 day'
        WHEN 3 THEN '2 to 7 days'
        WHEN 4 THEN '8 to 14 days'
        WHEN 5 THEN '15 to 21 days'
        WHEN 6 THEN '22 to 28 days'
        WHEN 7 THEN 'More than 28 days'
        ELSE 'Unknown'
    END AS band,
    CAST(appointments AS DOUBLE) / SUM(appointments) OVER (PARTITION BY level, area_code) AS share
FROM counted
ORDER BY level, area_code, band_order
