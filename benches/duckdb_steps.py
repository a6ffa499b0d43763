"""Times boardpack's SQL steps in DuckDB, for the side-by-side of `boardpack bench`.

Reads a spec written by the benchmark: for each SQL step its text, its bound parameters (given to DuckDB
as prepared-statement parameters, `$name`, never pasted into the text) and the Parquet files of every table
it reads (the objects the run read, month-partitioned ones with their `month=` folder as a column, the
results the run staged, the seeds exported to Parquet). Each table becomes a view; each step runs
`repeats` times and the median wall time of running it and fetching its rows is kept.

Usage: duckdb_steps.py SPEC.json RESULT.json
"""

import datetime
import json
import statistics
import sys
import time

import duckdb


def value(p):
    t, v = p["type"], p["value"]
    if t == "date":
        return datetime.date.fromisoformat(v)
    return v


def main(spec_path, out_path):
    spec = json.load(open(spec_path))
    con = duckdb.connect()
    # The same number of threads as the machine has cores: DuckDB's default.
    results = {}
    created = set()
    for step in spec["steps"]:
        try:
            for name, t in step["tables"].items():
                if name in created:
                    continue
                files = ", ".join("'" + f.replace("'", "''") + "'" for f in t["files"])
                hive = ", hive_partitioning = true, hive_types = {'month': VARCHAR}" if t["hive"] else ""
                con.execute(f'CREATE OR REPLACE VIEW "{name}" AS SELECT * FROM read_parquet([{files}]{hive})')
                created.add(name)
            params = {k: value(v) for k, v in step["params"].items()}
            times, rows = [], None
            for _ in range(spec["repeats"]):
                started = time.perf_counter()
                rows = len(con.execute(step["sql"], params).fetchall())
                times.append((time.perf_counter() - started) * 1000.0)
            results[step["step"]] = {"ms": statistics.median(times), "rows": rows}
        except Exception as e:  # a step DuckDB cannot run is reported, not fatal
            results[step["step"]] = {"error": f"{type(e).__name__}: {e}"}
    json.dump(results, open(out_path, "w"), indent=1)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
