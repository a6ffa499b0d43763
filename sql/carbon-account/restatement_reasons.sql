-- Why a restatement differs: the inputs and project files (pipeline, SQL, configuration and factor
-- files) whose SHA-256 differs from the previously published run's, the parameters whose value differs,
-- and the factor rows whose value or published row changed. Templates are left out: they change the
-- layout, not the figures.
WITH now_files AS (
    SELECT kind, path, fingerprint FROM run_files
    WHERE kind IN ('input', 'parameter') OR path LIKE 'config/%' OR path LIKE 'sql/%' OR path LIKE 'pipelines/%'
),
before_files AS (
    SELECT kind, path, fingerprint FROM previous_run_files
    WHERE kind IN ('input', 'parameter') OR path LIKE 'config/%' OR path LIKE 'sql/%' OR path LIKE 'pipelines/%'
),
files AS (
    SELECT
        COALESCE(n.kind, b.kind) AS kind,
        COALESCE(n.path, b.path) AS item,
        CASE WHEN b.path IS NULL THEN 'added' WHEN n.path IS NULL THEN 'removed' ELSE 'changed' END AS change,
        CAST(NULL AS DOUBLE) AS old_value,
        CAST(NULL AS DOUBLE) AS new_value,
        CASE WHEN COALESCE(n.kind, b.kind) = 'parameter'
             THEN COALESCE(b.fingerprint, 'not set') || ' → ' || COALESCE(n.fingerprint, 'not set') END AS detail
    FROM now_files n
    FULL OUTER JOIN before_files b ON b.path = n.path
    WHERE (n.fingerprint IS DISTINCT FROM b.fingerprint)
),
factor_rows AS (
    SELECT
        'factor row' AS kind,
        COALESCE(n.set_label, b.set_label) || ' ' || COALESCE(n.map_id, b.map_id) AS item,
        CASE WHEN b.map_id IS NULL THEN 'added' WHEN n.map_id IS NULL THEN 'removed' ELSE 'changed' END AS change,
        b.factor_value AS old_value,
        n.factor_value AS new_value,
        COALESCE(n.factor_id, n.factor_key, b.factor_id, b.factor_key) AS detail
    FROM factors_used n
    FULL OUTER JOIN previous_factors_used b ON b.set_label = n.set_label AND b.map_id = n.map_id
    WHERE (n.factor_value IS DISTINCT FROM b.factor_value)
       OR (n.factor_key IS DISTINCT FROM b.factor_key)
       OR (n.factor_id IS DISTINCT FROM b.factor_id)
)
SELECT * FROM files WHERE EXISTS (SELECT 1 FROM previous_run_files)
UNION ALL
SELECT * FROM factor_rows WHERE EXISTS (SELECT 1 FROM previous_run_files)
ORDER BY kind, item
