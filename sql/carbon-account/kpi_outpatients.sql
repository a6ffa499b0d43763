-- The Green Plan's remote-outpatients KPI (target 25%): outpatient appointments attended by telephone or
-- video, of all attended appointments, in the period, per trust and for all trusts (SUS outpatients, the
-- same records as the board pack's activity tables). Remote care avoids patient journeys.
WITH attended AS (
    SELECT provider_code, consultation_medium IN ('Telephone', 'Video') AS remote
    FROM op_attendances
    WHERE attendance_status = 'Attended' AND appointment_date BETWEEN $period_start AND $period_end
)
SELECT provider_code AS org_code, COUNT(*) AS attended,
       SUM(CASE WHEN remote THEN 1 ELSE 0 END) AS remote,
       CAST(SUM(CASE WHEN remote THEN 1 ELSE 0 END) AS DOUBLE) / COUNT(*) AS remote_share
FROM attended GROUP BY provider_code
UNION ALL
SELECT 'All trusts', COUNT(*), SUM(CASE WHEN remote THEN 1 ELSE 0 END),
       CAST(SUM(CASE WHEN remote THEN 1 ELSE 0 END) AS DOUBLE) / COUNT(*)
FROM attended HAVING COUNT(*) > 0
ORDER BY org_code
