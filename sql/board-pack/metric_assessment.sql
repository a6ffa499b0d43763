-- The pack's judgement of every metric with data, at its latest month (the scorecard's "Areas of concern"
-- and "Good progress", the exception pages and the mental health icons read it; templates only print it).
-- The rule, as the performance summary prints it:
--   concern  the latest point is special-cause concern, or the process consistently fails the standard;
--   good     the latest point is special-cause improvement, or the process consistently passes;
--   else     (common cause, hit and miss) good when the latest month meets the standard, else concern
--            (a latest month without a value does not meet it).
WITH latest AS (
    SELECT metric_id, MAX(month) AS month FROM metric_spc GROUP BY metric_id
),
series AS (
    SELECT DISTINCT metric_id, variation, assurance FROM metric_spc
),
judged AS (
    SELECT
        l.metric_id,
        l.month,
        s.variation,
        s.assurance,
        st.meets,
        CASE
            WHEN s.variation IN ('concern_high', 'concern_low') THEN 'latest point is special-cause concern'
            WHEN s.assurance = 'consistently_fails' THEN 'process consistently fails the standard'
            WHEN s.variation IN ('improvement_high', 'improvement_low') THEN 'latest point is special-cause improvement'
            WHEN s.assurance = 'consistently_passes' THEN 'process consistently passes the standard'
            WHEN st.meets THEN 'no special cause or assurance: the latest month meets the standard'
            ELSE 'no special cause or assurance: the latest month does not meet the standard'
        END AS reason
    FROM latest l
    JOIN series s ON s.metric_id = l.metric_id
    LEFT JOIN metric_status st ON st.metric_id = l.metric_id AND st.month = l.month
)
SELECT
    metric_id,
    month,
    variation,
    assurance,
    meets,
    CASE
        WHEN variation IN ('concern_high', 'concern_low') OR assurance = 'consistently_fails' THEN 'concern'
        WHEN variation IN ('improvement_high', 'improvement_low') OR assurance = 'consistently_passes' THEN 'good'
        WHEN meets THEN 'good'
        ELSE 'concern'
    END AS assessment,
    reason
FROM judged
ORDER BY metric_id
