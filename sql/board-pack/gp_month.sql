-- GP appointments (GPAD) per month: every appointment whatever its status (as published), those face to
-- face, and the time from booking to appointment in the seed pack's bands (same day, 1 day, 2–7, 8–14,
-- 15–21, 22–28, more than 28 days; an appointment dated before its booking, or without dates, is
-- `unknown_interval`, so the bands always add up to the total). Months are the reporting month, the two
-- before it (history_months: 2), and any baseline month the input names (`baseline_months`, before
-- Covid): `baseline` marks the months before those three.
SELECT
    month,
    month < to_char(CAST($period_start AS DATE) - INTERVAL '2 months', '%Y-%m') AS baseline,
    COUNT(*) AS appointments,
    SUM(CASE WHEN appointment_mode = 'Face-to-Face' THEN 1 ELSE 0 END) AS face_to_face,
    SUM(CASE WHEN appointment_date = booked_date THEN 1 ELSE 0 END) AS same_day,
    SUM(CASE WHEN appointment_date = booked_date + INTERVAL '1 day' THEN 1 ELSE 0 END) AS day_1,
    SUM(CASE WHEN appointment_date > booked_date + INTERVAL '1 day'
              AND appointment_date <= booked_date + INTERVAL '7 days' THEN 1 ELSE 0 END) AS days_2_7,
    SUM(CASE WHEN appointment_date > booked_date + INTERVAL '7 days'
              AND appointment_date <= booked_date + INTERVAL '14 days' THEN 1 ELSE 0 END) AS days_8_14,
    SUM(CASE WHEN appointment_date > booked_date + INTERVAL '14 days'
              AND appointment_date <= booked_date + INTERVAL '21 days' THEN 1 ELSE 0 END) AS days_15_21,
    SUM(CASE WHEN appointment_date > booked_date + INTERVAL '21 days'
              AND appointment_date <= booked_date + INTERVAL '28 days' THEN 1 ELSE 0 END) AS days_22_28,
    SUM(CASE WHEN appointment_date > booked_date + INTERVAL '28 days' THEN 1 ELSE 0 END) AS over_28,
    SUM(CASE WHEN appointment_date < booked_date OR appointment_date IS NULL OR booked_date IS NULL
             THEN 1 ELSE 0 END) AS unknown_interval
FROM gp_appointments
GROUP BY month
ORDER BY month
