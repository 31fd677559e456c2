"""Build the UCI Bank Marketing table the way the loader will once it keeps unmapped columns as extras.

The mapping (examples/bank-marketing.toml) gives the dictionary columns; the extras keep their file names
(``duration``, ``pdays``, ``poutcome``, ``month``, ``day``...), ``campaign`` becomes ``campaign_contacts`` and
``unknown`` is empty, as the mapping's ``null_values`` says. Built with DuckDB directly so these tests do not
depend on the loader change (see docs/predict.md).
"""

from __future__ import annotations

from pathlib import Path

import duckdb


def build_uci(csv: Path, db: Path) -> Path:
    con = duckdb.connect(str(db))
    try:
        con.execute("SET threads = 1")  # file order is the time order: read it in order
        source = f"read_csv('{csv}', delim=';', header=true, all_varchar=true, nullstr='unknown')"
        con.execute(f"""CREATE TABLE fpr_records AS SELECT
            'UCI-R' || lpad(CAST(n AS VARCHAR), 6, '0') AS record_id,
            'UCI-' || lpad(CAST(n AS VARCHAR), 6, '0') AS customer_id,
            job AS customer_segment, CAST(age AS INTEGER) AS customer_age,
            CAST(balance AS DOUBLE) AS account_balance,
            CASE contact WHEN 'cellular' THEN 'Phone (mobile)' WHEN 'telephone' THEN 'Phone (landline)' END AS channel,
            'TD-CAMPAIGN' AS product_id, 'Term Deposit' AS product_name, 'Savings' AS product_type,
            'Campaign: Term Deposit' AS product_recommendation,
            CASE y WHEN 'yes' THEN 'Accepted' ELSE 'Declined' END AS product_recommendation_status,
            CAST(campaign AS INTEGER) AS campaign_contacts, marital, education, "default", housing, loan,
            CAST("day" AS INTEGER) AS "day", "month", CAST(duration AS INTEGER) AS duration,
            CAST(pdays AS INTEGER) AS pdays, CAST(previous AS INTEGER) AS previous, poutcome
            FROM (SELECT row_number() OVER () AS n, * FROM {source})""")
    finally:
        con.close()
    return db
