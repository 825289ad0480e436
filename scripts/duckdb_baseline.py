#!/usr/bin/env python3
"""DuckDB baseline of `workbench bench`: the batch layer's queries over the same events, from
the Parquet file the bench wrote with polars.

Prints one JSON object on stdout:
  {"version": "1.1.3", "threads": 2,
   "key_sum": {"best_s": 0.41, "cpu_s": 0.8, "rows": 12000}, "campaign_window_count": {...}}
Exit status 3 (and a message on stderr) when the duckdb module is missing.

Usage: duckdb_baseline.py EVENTS.parquet CAMPAIGNS.parquet --threads 2 --window-ms 10000
       [--repeats 2]
"""
import argparse
import json
import sys
import time

try:
    import duckdb
except ImportError:
    print("the duckdb Python module is not installed (pip install duckdb)", file=sys.stderr)
    sys.exit(3)

# The same queries as the batch layer (src/batch/lambda_polars.rs), tumbling windows. Event
# times are never negative in generated workloads, so `%` (truncating in DuckDB) floors.
QUERIES = {
    "key_sum": """
        SELECT key, event_time_ms - event_time_ms % {w} AS window_start, sum(value) AS agg
        FROM read_parquet('{events}')
        GROUP BY ALL
    """,
    "campaign_window_count": """
        SELECT c.campaign, e.event_time_ms - e.event_time_ms % {w} AS window_start,
               count(*) AS agg
        FROM read_parquet('{events}') e
        JOIN read_parquet('{campaigns}') c ON e.key = c.ad
        WHERE e.event_type = 'view'
        GROUP BY ALL
    """,
}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("events")
    p.add_argument("campaigns")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--window-ms", type=int, default=10_000)
    p.add_argument("--repeats", type=int, default=2)
    a = p.parse_args()
    con = duckdb.connect()
    con.execute(f"SET threads={a.threads}")
    out = {"version": duckdb.__version__, "threads": a.threads}
    for name, sql in QUERIES.items():
        q = sql.format(w=a.window_ms, events=a.events, campaigns=a.campaigns)
        best, cpu, rows = float("inf"), float("inf"), 0
        for _ in range(max(1, a.repeats)):
            t, c = time.perf_counter(), time.process_time()
            rows = len(con.execute(q).fetchall())
            best = min(best, time.perf_counter() - t)
            cpu = min(cpu, time.process_time() - c)
        # cpu_s: CPU seconds of all threads; on a busy machine a steadier figure than best_s.
        out[name] = {"best_s": best, "cpu_s": cpu, "rows": rows}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
