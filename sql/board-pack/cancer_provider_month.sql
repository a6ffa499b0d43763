-- Cancer waiting times per provider per month, from the pathway records of each month's extract. Every
-- rule counts whole calendar days from one date to a later one, and "within N days" means at most N
-- (a date no later than the first date + N days):
--   2-week wait (route gp_urgent; breast symptomatic separately): first seen at most 14 days after the
--     referral was received; counted in the month of the first appointment.
--   28-day faster diagnosis (gp_urgent, breast_symptomatic and screening referrals): cancer diagnosed or
--     ruled out at most 28 days after the referral; counted in the month of that diagnosis.
--   31-day first definitive treatment (every route): treated at most 31 days after the decision to treat;
--     counted in the month of treatment. 31-day subsequent treatments: the same rule for records with
--     first_treatment false, split by modality (surgery, drug, radiotherapy).
--   62-day (gp_urgent, screening, upgrade, each separately): first treatment at most 62 days after the
--     referral (for a consultant upgrade, after the upgrade); counted in the month of treatment.
--   Waiting over 104 days and the 62-day backlog are snapshots at the month's end: pathways on a 62-day
--     route (gp_urgent, screening, upgrade) not yet treated and with cancer not ruled out, referred more
--     than 104 (62) days before the month's last day.
WITH p AS (
    SELECT
        *,
        CAST(month || '-01' AS DATE) AS month_start,
        CAST(month || '-01' AS DATE) + INTERVAL '1 month' - INTERVAL '1 day' AS month_end
    FROM cancer_pathways
),
flags AS (
    SELECT
        month,
        provider_code,
        route,
        first_treatment,
        treatment_modality,
        first_seen_date BETWEEN month_start AND month_end AS seen_in_month,
        first_seen_date <= referral_date + INTERVAL '14 days' AS seen_within_14,
        diagnosis_date BETWEEN month_start AND month_end AS told_in_month,
        diagnosis_date <= referral_date + INTERVAL '28 days' AS told_within_28,
        treatment_date BETWEEN month_start AND month_end AS treated_in_month,
        treatment_date <= decision_to_treat_date + INTERVAL '31 days' AS treated_within_31,
        treatment_date <= referral_date + INTERVAL '62 days' AS treated_within_62,
        first_treatment AND route IN ('gp_urgent', 'screening', 'upgrade')
            AND treatment_date IS NULL AND COALESCE(cancer_diagnosed, TRUE) AS open_62,
        referral_date < month_end - INTERVAL '104 days' AS over_104,
        referral_date < month_end - INTERVAL '62 days' AS over_62
    FROM p
)
SELECT
    month,
    provider_code,
    SUM(CASE WHEN route = 'gp_urgent' AND seen_in_month THEN 1 ELSE 0 END) AS seen_2ww,
    SUM(CASE WHEN route = 'gp_urgent' AND seen_in_month AND seen_within_14 THEN 1 ELSE 0 END) AS seen_2ww_within,
    SUM(CASE WHEN route = 'breast_symptomatic' AND seen_in_month THEN 1 ELSE 0 END) AS seen_breast,
    SUM(CASE WHEN route = 'breast_symptomatic' AND seen_in_month AND seen_within_14 THEN 1 ELSE 0 END) AS seen_breast_within,
    SUM(CASE WHEN route IN ('gp_urgent', 'breast_symptomatic', 'screening') AND told_in_month THEN 1 ELSE 0 END) AS told_fds,
    SUM(CASE WHEN route IN ('gp_urgent', 'breast_symptomatic', 'screening') AND told_in_month AND told_within_28 THEN 1 ELSE 0 END) AS told_fds_within,
    SUM(CASE WHEN first_treatment AND treated_in_month THEN 1 ELSE 0 END) AS treated_31_first,
    SUM(CASE WHEN first_treatment AND treated_in_month AND treated_within_31 THEN 1 ELSE 0 END) AS treated_31_first_within,
    SUM(CASE WHEN NOT first_treatment AND treatment_modality = 'surgery' AND treated_in_month THEN 1 ELSE 0 END) AS treated_31_surgery,
    SUM(CASE WHEN NOT first_treatment AND treatment_modality = 'surgery' AND treated_in_month AND treated_within_31 THEN 1 ELSE 0 END) AS treated_31_surgery_within,
    SUM(CASE WHEN NOT first_treatment AND treatment_modality = 'drug' AND treated_in_month THEN 1 ELSE 0 END) AS treated_31_drug,
    SUM(CASE WHEN NOT first_treatment AND treatment_modality = 'drug' AND treated_in_month AND treated_within_31 THEN 1 ELSE 0 END) AS treated_31_drug_within,
    SUM(CASE WHEN NOT first_treatment AND treatment_modality = 'radiotherapy' AND treated_in_month THEN 1 ELSE 0 END) AS treated_31_radio,
    SUM(CASE WHEN NOT first_treatment AND treatment_modality = 'radiotherapy' AND treated_in_month AND treated_within_31 THEN 1 ELSE 0 END) AS treated_31_radio_within,
    SUM(CASE WHEN first_treatment AND route = 'gp_urgent' AND treated_in_month THEN 1 ELSE 0 END) AS treated_62_gp,
    SUM(CASE WHEN first_treatment AND route = 'gp_urgent' AND treated_in_month AND treated_within_62 THEN 1 ELSE 0 END) AS treated_62_gp_within,
    SUM(CASE WHEN first_treatment AND route = 'screening' AND treated_in_month THEN 1 ELSE 0 END) AS treated_62_screening,
    SUM(CASE WHEN first_treatment AND route = 'screening' AND treated_in_month AND treated_within_62 THEN 1 ELSE 0 END) AS treated_62_screening_within,
    SUM(CASE WHEN first_treatment AND route = 'upgrade' AND treated_in_month THEN 1 ELSE 0 END) AS treated_62_upgrade,
    SUM(CASE WHEN first_treatment AND route = 'upgrade' AND treated_in_month AND treated_within_62 THEN 1 ELSE 0 END) AS treated_62_upgrade_within,
    SUM(CASE WHEN open_62 AND over_104 THEN 1 ELSE 0 END) AS waiting_over_104,
    SUM(CASE WHEN open_62 AND over_62 THEN 1 ELSE 0 END) AS backlog_62
FROM flags
GROUP BY month, provider_code
ORDER BY month, provider_code
