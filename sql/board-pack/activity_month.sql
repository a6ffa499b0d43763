-- Acute activity per month for the leaf lines of config/board-pack/activity_lines.yaml (a total line is
-- the sum of its parts, in activity_summary), over the months the inputs supply.
--   A&E: every attendance at every department type (input ae_attendances_history: the same records as
--   ae_attendances, read back to April of the previous year).
--   Spells (SUS APC, by month of discharge): non-elective (`NEL`) split by a zero length of stay
--   (discharged the day of admission) or a stay of one day or more; elective day cases (`DC`) and
--   inpatients (`EL`).
--   Outpatients: attended appointments only (a DNA is not activity), first or follow-up, face to face
--   or by telephone or video; PIFU: appointments whose outcome moved or discharged the patient to
--   patient-initiated follow-up.
--   Advice and guidance: requests from the aggregated return, pre- or post-referral.
SELECT line, month, CAST(SUM(n) AS DOUBLE) AS actual
FROM (
    SELECT 'ae_attendances' AS line, month, 1 AS n FROM ae_attendances_history
    UNION ALL
    SELECT
        CASE
            WHEN point_of_delivery = 'DC' THEN 'el_dc'
            WHEN point_of_delivery = 'EL' THEN 'el_ip'
            WHEN discharge_date > admission_date THEN 'nel_los_1plus'
            ELSE 'nel_zero_los'
        END,
        month, 1
    FROM apc_spells
    WHERE point_of_delivery IN ('DC', 'EL', 'NEL')
    UNION ALL
    SELECT
        CASE
            WHEN attendance_type = 'First' AND consultation_medium = 'Face to face' THEN 'op_first_f2f'
            WHEN attendance_type = 'First' THEN 'op_first_virtual'
            WHEN consultation_medium = 'Face to face' THEN 'op_fu_f2f'
            ELSE 'op_fu_virtual'
        END,
        month, 1
    FROM op_attendances
    WHERE attendance_status = 'Attended'
    UNION ALL
    SELECT 'pifu', month, 1 FROM op_attendances WHERE pifu
    UNION ALL
    SELECT
        CASE WHEN request_type = 'Pre-referral' THEN 'ag_pre_referral' ELSE 'ag_post_referral' END,
        month, requests
    FROM advice_guidance
) leaves
GROUP BY line, month
ORDER BY line, month
