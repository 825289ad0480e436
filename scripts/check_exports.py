#!/usr/bin/env python3
"""Loads every file of a workbench results directory in polars, pandas and DuckDB, as a user
would, with no cleaning, and recomputes the oracle's answers from `events.parquet` in DuckDB.

    python3 scripts/check_exports.py results/quickstart

Exits 0 when everything loads with the expected types and the recomputed answers equal
`final_views/oracle.csv` (and every architecture whose summary says it ended exact); prints
what failed and exits 1 otherwise; exits 3 when a package is missing (the caller skips).

This is deliberately independent of the Rust code: it knows the file formats from
`results/README.md` and the query definitions from `scenarios/README.md`, nothing else.
"""

import json
import pathlib
import sys
import tomllib

try:
    import duckdb
    import pandas as pd
    import polars as pl
except ImportError as e:  # the test skips with this message
    print(f"missing Python package: {e.name} (pip install polars pandas duckdb pyarrow)")
    sys.exit(3)

FAILURES = []


def check(cond, what):
    if not cond:
        FAILURES.append(what)


def main(results: pathlib.Path) -> int:
    summary = json.loads((results / "summary.json").read_text())
    scenario = tomllib.loads((results / "scenario.toml").read_text())

    # timeseries.csv: long format, one header, typed columns, no nulls.
    # Schema from every row: `value` mixes counts and ratios, and in a long run the first 100
    # rows (polars' default sample) can all be whole numbers, which would type it Int64.
    ts = pl.read_csv(results / "timeseries.csv", infer_schema_length=None)
    check(ts.columns == ["t_ms", "architecture", "metric", "value"], f"timeseries columns {ts.columns}")
    check(ts["t_ms"].dtype == pl.Int64, f"timeseries t_ms is {ts['t_ms'].dtype}")
    check(ts["value"].dtype.is_numeric(), f"timeseries value is {ts['value'].dtype}")
    check(ts.null_count().sum_horizontal()[0] == 0, "timeseries has nulls")
    tsp = pd.read_csv(results / "timeseries.csv")
    check(len(tsp) == len(ts), "pandas and polars disagree on timeseries rows")
    check(pd.api.types.is_numeric_dtype(tsp["value"]), "pandas: timeseries value not numeric")
    con = duckdb.connect()
    n = con.sql(f"select count(*) from read_csv_auto('{results / 'timeseries.csv'}')").fetchall()[0][0]
    check(n == len(ts), f"duckdb reads {n} timeseries rows, polars {len(ts)}")

    # final_views/*.csv: one per architecture plus the oracle.
    views = {}
    for path in sorted((results / "final_views").glob("*.csv")):
        df = pl.read_csv(path, schema_overrides={"key": pl.Utf8})
        check(
            df.columns == ["query", "key", "window_start_ms", "window_end_ms", "value"],
            f"{path.name} columns {df.columns}",
        )
        for col in ["window_start_ms", "window_end_ms"]:
            check(df[col].dtype == pl.Int64, f"{path.name}: {col} is {df[col].dtype}")
        check(df["value"].dtype.is_numeric(), f"{path.name}: value is {df['value'].dtype}")
        check(len(pd.read_csv(path)) == len(df), f"pandas rows differ in {path.name}")
        views[path.stem] = df
    check("oracle" in views, "final_views/oracle.csv missing")

    if (results / "timeline.csv").exists():
        tl = pl.read_csv(results / "timeline.csv")
        check(tl["t_ms"].dtype == pl.Int64, f"timeline t_ms is {tl['t_ms'].dtype}")

    # events.parquet (only with --export-events): the recompute below needs it.
    events_path = results / "events.parquet"
    if not events_path.exists():
        print("no events.parquet (run with --export-events): recompute skipped")
        return report()
    ev = pl.read_parquet(events_path)
    for col in ["partition", "offset", "key", "event_time_ms", "append_time_ms"]:
        check(col in ev.columns, f"events.parquet lacks {col}")
    check(len(pd.read_parquet(events_path)) == len(ev), "pandas rows differ in events.parquet")
    check(
        con.sql(f"select count(*) from '{events_path}'").fetchall()[0][0] == len(ev),
        "duckdb rows differ in events.parquet",
    )
    check(
        ev.select(["partition", "offset"]).is_duplicated().sum() == 0,
        "events.parquet has a duplicate (partition, offset)",
    )

    # Recompute the keyed queries with tumbling windows in SQL. A logic change redefines the
    # answers mid-run (documented in scenarios/README.md); those runs are not recomputed here.
    if any(f.get("kind") == "logic_change" for f in scenario.get("faults", [])):
        print("scenario changes its logic: recompute skipped")
        return report()
    # Each record stands for `weight` identical events (`workload.events_per_record`); an
    # export without the column (older runs) has one event per record.
    weight = "weight" if "weight" in ev.columns else "1"
    events_per_record = summary.get("events_per_record", 1)
    if "weight" in ev.columns:
        check(
            ev["weight"].min() >= 1 and ev["weight"].max() == events_per_record,
            f"events.parquet weights {ev['weight'].min()}..{ev['weight'].max()}, "
            f"summary says {events_per_record} events per record",
        )
    sql = {
        "key_window_count": f"sum({weight})",
        "key_sum": f"sum(value * {weight})",
    }
    # Distinct users (unaffected by weights) group by key only in keyed workloads (ads group by campaign, whose table
    # is not exported); approximate queries are judged by their error, not recomputed.
    if scenario.get("workload", {}).get("kind", "keyed") == "keyed":
        sql["distinct_users"] = "count(distinct user_id)"
    checked = 0
    for q in scenario.get("queries", []):
        name, window = q["name"], q.get("window_ms")
        slide = q.get("slide_ms", window)
        if name not in sql or window is None or slide != window or q.get("approximate"):
            continue
        expected = con.sql(
            f"""
            select key, cast(floor(event_time_ms / {window}) * {window} as bigint) as window_start_ms,
                   cast({sql[name]} as bigint) as value
            from '{events_path}' group by all order by all
            """
        ).pl()
        for arch, view in views.items():
            if arch != "oracle" and not exact_at_end(summary, arch):
                continue
            got = (
                view.filter(pl.col("query") == name)
                .select(["key", "window_start_ms", pl.col("value").cast(pl.Int64)])
                .sort(["key", "window_start_ms"])
            )
            check(
                got.equals(expected),
                f"{arch}: {name} differs from DuckDB's recompute "
                f"({len(got)} rows vs {len(expected)})",
            )
            checked += 1
    print(f"recomputed {checked} final views from events.parquet in DuckDB")
    return report()


def exact_at_end(summary, arch):
    """Whether summary.json says `arch` ended with every answer exact."""
    return summary.get("architectures", {}).get(arch, {}).get("error", {}).get("final_equals_oracle") is True


def report() -> int:
    for f in FAILURES:
        print("FAIL:", f)
    if not FAILURES:
        print("every export loads in polars, pandas and DuckDB")
    return 1 if FAILURES else 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print(__doc__)
        sys.exit(2)
    sys.exit(main(pathlib.Path(sys.argv[1])))
