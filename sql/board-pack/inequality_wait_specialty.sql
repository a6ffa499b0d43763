-- The elective waiting list at the reporting month's end by specialty and by the deprivation quintile of
-- the patient's area (quintile 1 = Core20): pathways and the average wait in whole weeks from clock start
-- to the snapshot date (the month's last day), so that a longer wait for the most deprived shows specialty
-- by specialty. Pathways without an IMD decile are counted under quintile 0 ('Not known').
WITH waits AS (
    SELECT
        COALESCE(r.specialty, 'Not known') AS specialty,
        COALESCE(q.quintile, 0) AS quintile,
        -- whole weeks: days from clock start to the snapshot date, divided by seven and rounded down
        floor(
            (to_unixtime(CAST($period_end AS TIMESTAMP)) - to_unixtime(CAST(r.clock_start AS TIMESTAMP))) / 86400 / 7
        ) AS weeks
    FROM rtt_waiting_list r
    LEFT JOIN imd_quintiles q ON q.imd_decile = r.imd_decile
    WHERE r.month = $period
)
SELECT specialty, quintile, COUNT(*) AS pathways, AVG(weeks) AS mean_weeks
FROM waits
GROUP BY specialty, quintile
ORDER BY specialty, quintile
