-- Ambulance handovers per acute trust per month: the time from the ambulance's arrival at hospital to the
-- handover of the patient to A&E staff.
SELECT
    h.month,
    h.provider_code,
    o.short_name AS provider,
    COUNT(*) AS handovers,
    SUM(CASE WHEN h.handover_time <= h.arrival_time + INTERVAL '15 minutes' THEN 1 ELSE 0 END) AS within_15,
    SUM(CASE WHEN h.handover_time <= h.arrival_time + INTERVAL '30 minutes' THEN 1 ELSE 0 END) AS within_30,
    SUM(CASE WHEN h.handover_time > h.arrival_time + INTERVAL '60 minutes' THEN 1 ELSE 0 END) AS over_60
FROM ambulance_handovers h
JOIN organisations o ON o.org_code = h.provider_code
GROUP BY h.month, h.provider_code, o.short_name
ORDER BY h.month, o.short_name
