-- Practices that did not submit a source in the period (all of a flow's months, or a snapshot's last
-- month): listed in the data notes and left out of every comparison and rollup — never shown as zero.
SELECT
    pi.practice_code,
    pi.practice_name,
    pi.pcn_name,
    pi.place,
    i.source,
    MAX(i.data_source) AS source_name,
    string_agg(i.short, ', ' ORDER BY i."order") AS indicators,
    MIN(pi.months_submitted) AS months_submitted,
    MAX(pi.months) AS months
FROM practice_indicator pi
JOIN indicators i ON i.id = pi.indicator_id
WHERE NOT pi.submitted
GROUP BY pi.practice_code, pi.practice_name, pi.pcn_name, pi.place, i.source
ORDER BY i.source, pi.practice_code
