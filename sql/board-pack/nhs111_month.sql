-- NHS 111 calls per month (an aggregated return): the share of answered calls answered within 60 seconds.
SELECT
    month,
    SUM(calls_offered) AS calls_offered,
    SUM(calls_answered) AS calls_answered,
    SUM(answered_within_60s) AS answered_within_60s
FROM nhs111_calls
GROUP BY month
ORDER BY month
