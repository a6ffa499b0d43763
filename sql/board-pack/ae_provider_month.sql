-- A&E attendances and waits per provider per month, over the months the input supplies
-- (the reporting month and the twelve before it).
-- The 4-hour clock runs from arrival to departure; a "trolley wait" is more than 12 hours from the
-- decision to admit to admission (departure from A&E).
SELECT
    month,
    provider_code,
    COUNT(*) AS attendances,
    SUM(CASE WHEN departure_time <= arrival_time + INTERVAL '4 hours' THEN 1 ELSE 0 END) AS within_4h,
    SUM(CASE WHEN departure_time > arrival_time + INTERVAL '12 hours' THEN 1 ELSE 0 END) AS over_12h_from_arrival,
    SUM(CASE WHEN admitted AND departure_time > decision_to_admit_time + INTERVAL '12 hours' THEN 1 ELSE 0 END)
        AS trolley_waits_12h
FROM ae_attendances
GROUP BY month, provider_code
ORDER BY month, provider_code
