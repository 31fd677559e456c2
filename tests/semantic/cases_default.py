"""Evaluation questions over the default synthetic data (any seed: the dates run 2023-10-01 to 2026-09-30),
each with its expected result as independent SQL over ``{A}`` (the records without soft-deleted rows)."""

from __future__ import annotations

from tests.semantic.evaluate import REFUSE, Expect, compare, groups, scalar, top

D = "product_recommendation_date"
ACC = "product_recommendation_status = 'Accepted'"


def where(cond: str) -> str:
    return f" WHERE {cond}" if cond else ""


def rate(cond: str = "") -> str:
    return f"SELECT avg(CASE WHEN {ACC} THEN 1.0 ELSE 0.0 END) FROM {{A}}{where(cond)}"


def decided(cond: str = "") -> str:
    c = "product_recommendation_status IN ('Accepted', 'Declined')" + (f" AND {cond}" if cond else "")
    return rate(c)


def count(cond: str = "") -> str:
    return f"SELECT count(*) FROM {{A}}{where(cond)}"


def customers(cond: str = "") -> str:
    return f"SELECT count(DISTINCT customer_id) FROM {{A}}{where(cond)}"


def per_customer(col: str, cond: str = "", agg: str = "avg") -> str:
    return f"SELECT {agg}(v) FROM (SELECT customer_id, avg({col}) AS v FROM {{A}}{where(cond)} GROUP BY 1)"


def revenue(cond: str = "") -> str:
    c = f"r.{ACC}" + (f" AND {cond}" if cond else "")
    return (f"SELECT sum(r.product_sales_amount * p.margin) FROM {{A}} r JOIN (SELECT product_id, max(margin) AS "
            f"margin FROM products GROUP BY 1) p USING (product_id) WHERE {c}")


def sales(cond: str = "", agg: str = "sum") -> str:
    return f"SELECT {agg}(product_sales_amount) FROM {{A}} WHERE {ACC}" + (f" AND {cond}" if cond else "")


def by(group: str, value: str, cond: str = "", order: str = "") -> str:
    """``value`` per ``group`` (group expressions are plain SQL); ``order`` e.g. 'DESC LIMIT 1'."""
    conds = " AND ".join(c for c in (cond, f"({group}) IS NOT NULL") if c)
    sort = f" ORDER BY 2 {order}, 1" if order else ""
    return f"SELECT {group} AS g, {value} AS v FROM {{A}} WHERE {conds} GROUP BY 1{sort}"


def by_customer(group: str, col: str, cond: str = "", order: str = "", agg: str = "avg") -> str:
    conds = " AND ".join(c for c in (cond, f"({group}) IS NOT NULL") if c)
    sort = f" ORDER BY 2 {order}, 1" if order else ""
    return (f"SELECT g, {agg}(v) FROM (SELECT {group} AS g, customer_id, avg({col}) AS v FROM {{A}} WHERE {conds} "
            f"GROUP BY 1, 2) GROUP BY 1{sort}")


RATE = f"avg(CASE WHEN {ACC} THEN 1.0 ELSE 0.0 END)"
Y = f"year({D})"
Q = f"quarter({D})"
QLABEL = f"CAST(year({D}) AS VARCHAR) || ' Q' || CAST(quarter({D}) AS VARCHAR)"
Q3_2026 = f"{D} >= DATE '2026-07-01' AND {D} < DATE '2026-10-01'"
Q2_2026 = f"{D} >= DATE '2026-04-01' AND {D} < DATE '2026-07-01'"
AGE_BAND = ("CASE WHEN customer_age < 25 THEN 'under 25' WHEN customer_age < 35 THEN '25-34' WHEN customer_age < 45 "
            "THEN '35-44' WHEN customer_age < 55 THEN '45-54' WHEN customer_age < 65 THEN '55-64' "
            "WHEN customer_age >= 65 THEN '65+' END")
CREDIT_BAND = ("CASE WHEN credit_score < 580 THEN 'poor (below 580)' WHEN credit_score < 670 THEN 'fair (580-669)' "
               "WHEN credit_score < 740 THEN 'good (670-739)' WHEN credit_score < 800 THEN 'very good (740-799)' "
               "WHEN credit_score >= 800 THEN 'exceptional (800+)' END")


def both(measure_sql: str, cur: str, base: str) -> str:
    """(current, baseline) of a record measure written with ``{c}`` for its condition."""
    return f"SELECT ({measure_sql.format(c=cur)}), ({measure_sql.format(c=base)})"


RATE_IN = f"SELECT avg(CASE WHEN {ACC} THEN 1.0 ELSE 0.0 END) FROM {{{{A}}}} WHERE {{c}}"
COUNT_IN = "SELECT count(*) FROM {{A}} WHERE {c}"

CASES: list[tuple[str, Expect]] = [
    # -- acceptance, one figure ------------------------------------------------------------------------------
    ("What is the acceptance rate for Email in 2025?", scalar("acceptance_rate", rate(f"channel = 'Email' AND {Y} = 2025"))),
    ("acceptance rate for email in 2025", scalar("acceptance_rate", rate(f"channel = 'Email' AND {Y} = 2025"))),
    ("What's the Email acceptance rate during 2025?", scalar("acceptance_rate", rate(f"channel = 'Email' AND {Y} = 2025"))),
    ("What is the acceptance rate?", scalar("acceptance_rate", rate())),
    ("What is the overall acceptance rate?", scalar("acceptance_rate", rate())),
    ("acceptance rate for mortgages", scalar("acceptance_rate", rate("product_type = 'Mortgage'"))),
    ("conversion rate of credit cards in 2024", scalar("acceptance_rate", rate(f"product_type = 'Credit Card' AND {Y} = 2024"))),
    ("take-up rate for savings in Q1 2025", scalar("acceptance_rate", rate(f"product_type = 'Savings' AND {Y} = 2025 AND {Q} = 1"))),
    ("acceptance rate for students", scalar("acceptance_rate", rate("customer_segment = 'Student'"))),
    ("acceptance rate for high net worth customers in 2025", scalar("acceptance_rate", rate(f"customer_segment = 'High Net Worth' AND {Y} = 2025"))),
    ("acceptance rate in the branch channel", scalar("acceptance_rate", rate("channel = 'Branch'"))),
    ("acceptance rate for Mobile App last quarter", scalar("acceptance_rate", rate(f"channel = 'Mobile App' AND {Q3_2026}"))),
    ("acceptance rate excluding Email", scalar("acceptance_rate", rate("channel IS DISTINCT FROM 'Email'"))),
    ("acceptance rate for Email or Branch", scalar("acceptance_rate", rate("channel IN ('Email', 'Branch')"))),
    ("acceptance rate for dormant customers", scalar("acceptance_rate", rate("customer_lifecycle_stage = 'Dormant'"))),
    ("acceptance rate for at-risk customers", scalar("acceptance_rate", rate("customer_lifecycle_stage = 'At Risk'"))),
    ("acceptance rate for customers with high affinity", scalar("acceptance_rate", rate("customer_product_affinity = 'High'"))),
    ("acceptance rate where product affinity is low", scalar("acceptance_rate", rate("customer_product_affinity = 'Low'"))),
    ("acceptance rate for offers through Salesforce", scalar("acceptance_rate", rate("crm_system = 'Salesforce'"))),
    ("acceptance rate for FIS records", scalar("acceptance_rate", rate("source_system = 'FIS'"))),
    ("acceptance rate for customers with a credit score over 750", scalar("acceptance_rate", rate("credit_score > 750"))),
    ("acceptance rate for customers aged over 60", scalar("acceptance_rate", rate("customer_age > 60"))),
    ("acceptance rate for customers nearing retirement", scalar("acceptance_rate", rate("customer_age >= 55 AND customer_age < 65"))),
    ("acceptance rate for the Platinum Card", scalar("acceptance_rate", rate("product_name = 'Platinum Card'"))),
    ("acceptance rate of the 30-Year Fixed Mortgage", scalar("acceptance_rate", rate("product_name = '30-Year Fixed Mortgage'"))),
    ("acceptance rate in 2024 Q4", scalar("acceptance_rate", rate(f"{Y} = 2024 AND {Q} = 4"))),
    ("acceptance rate in March 2025", scalar("acceptance_rate", rate(f"{Y} = 2025 AND month({D}) = 3"))),
    ("acceptance rate since March", scalar("acceptance_rate", rate(f"{D} >= DATE '2026-03-01'"))),
    ("acceptance rate year to date", scalar("acceptance_rate", rate(f"{D} >= DATE '2026-01-01'"))),
    ("acceptance rate in the last 6 months", scalar("acceptance_rate", rate(f"{D} >= DATE '2026-04-01'"))),
    ("acceptance rate in H1 2025", scalar("acceptance_rate", rate(f"{Y} = 2025 AND month({D}) <= 6"))),
    ("acceptance rate before 2025", scalar("acceptance_rate", rate(f"{Y} < 2025"))),
    ("acceptance rate from Q1 to Q3 2025", scalar("acceptance_rate", rate(f"{Y} = 2025 AND {Q} <= 3"))),
    ("decided acceptance rate for Email", scalar("decided_acceptance_rate", decided("channel = 'Email'"))),
    ("acceptance rate among decided offers in 2025", scalar("decided_acceptance_rate", decided(f"{Y} = 2025"))),
    ("acceptance rate for students on the Mobile App in 2025", scalar("acceptance_rate", rate(f"customer_segment = 'Student' AND channel = 'Mobile App' AND {Y} = 2025"))),
    ("acceptance rate for Young Professionals in Online Banking", scalar("acceptance_rate", rate("customer_segment = 'Young Professional' AND channel = 'Online Banking'"))),
    ("acceptance rate for credit cards excluding Email in 2025", scalar("acceptance_rate", rate(f"product_type = 'Credit Card' AND channel <> 'Email' AND {Y} = 2025"))),
    ("acceptance for the Checking product type in 2024", scalar("acceptance_rate", rate(f"product_type = 'Checking' AND {Y} = 2024"))),
    ("acceptance rate for customers aged 25 to 34", scalar("acceptance_rate", rate("customer_age BETWEEN 25 AND 34"))),
    ("acceptance rate for HubSpot offers in 2026 Q1", scalar("acceptance_rate", rate(f"crm_system = 'HubSpot' AND {Y} = 2026 AND {Q} = 1"))),
    ("acceptance rate for customers with decreasing usage", scalar("acceptance_rate", rate("customer_product_usage_trend = 'Decreasing'"))),
    ("uptake of insurance by small businesses", scalar("acceptance_rate", rate("product_type = 'Insurance' AND customer_segment = 'Small Business'"))),
    ("success rate of investment offers for mass affluent customers", scalar("acceptance_rate", rate("product_type = 'Investment' AND customer_segment = 'Mass Affluent'"))),
    ("acceptance rate for customers with excellent credit", scalar("acceptance_rate", rate("credit_score >= 800"))),
    # -- acceptance by group -----------------------------------------------------------------------------------
    ("acceptance rate by channel", groups("acceptance_rate", by("channel", RATE))),
    ("acceptance rate by channel in 2025", groups("acceptance_rate", by("channel", RATE, f"{Y} = 2025"))),
    ("acceptance rate by segment for mortgages", groups("acceptance_rate", by("customer_segment", RATE, "product_type = 'Mortgage'"))),
    ("acceptance rate per product type in 2024", groups("acceptance_rate", by("product_type", RATE, f"{Y} = 2024"))),
    ("acceptance rate by lifecycle stage", groups("acceptance_rate", by("customer_lifecycle_stage", RATE))),
    ("acceptance rate by source system", groups("acceptance_rate", by("source_system", RATE))),
    ("acceptance rate by CRM in Q2 2026", groups("acceptance_rate", by("crm_system", RATE, Q2_2026))),
    ("acceptance rate by affinity", groups("acceptance_rate", by("customer_product_affinity", RATE))),
    ("acceptance rate by age band", groups("acceptance_rate", by(AGE_BAND, RATE))),
    ("acceptance rate by credit score band", groups("acceptance_rate", by(CREDIT_BAND, RATE))),
    ("acceptance rate by quarter in 2025", groups("acceptance_rate", by(QLABEL, RATE, f"{Y} = 2025"))),
    ("monthly acceptance rate for Email in 2026", groups("acceptance_rate", by(f"strftime({D}, '%Y-%m')", RATE, f"channel = 'Email' AND {Y} = 2026"))),
    ("acceptance rate by year", groups("acceptance_rate", by(f"CAST({Y} AS VARCHAR)", RATE))),
    ("acceptance rate across channels for students", groups("acceptance_rate", by("channel", RATE, "customer_segment = 'Student'"))),
    ("rank segments by acceptance rate", groups("acceptance_rate", by("customer_segment", RATE))),
    ("How does acceptance differ by lifecycle stage?", groups("acceptance_rate", by("customer_lifecycle_stage", RATE))),
    ("acceptance rate by usage trend in 2025", groups("acceptance_rate", by("customer_product_usage_trend", RATE, f"{Y} = 2025"))),
    ("acceptance rate of mortgages by quarter", groups("acceptance_rate", by(QLABEL, RATE, "product_type = 'Mortgage'"))),
    # -- rankings -----------------------------------------------------------------------------------------------
    ("Which channel converts best?", top("acceptance_rate", by("channel", RATE, order="DESC"))),
    ("Which segment has the highest acceptance rate?", top("acceptance_rate", by("customer_segment", RATE, order="DESC"))),
    ("Which segment has the highest acceptance rate in 2025?", top("acceptance_rate", by("customer_segment", RATE, f"{Y} = 2025", "DESC"))),
    ("top 3 products by acceptance rate in 2025", top("acceptance_rate", by("product_name", RATE, f"{Y} = 2025", "DESC"), n=3)),
    ("bottom 3 channels by acceptance rate", top("acceptance_rate", by("channel", RATE, order="ASC"))),
    ("which product type has the lowest acceptance rate for students", top("acceptance_rate", by("product_type", RATE, "customer_segment = 'Student'", "ASC"))),
    ("worst channel for acceptance in 2024", top("acceptance_rate", by("channel", RATE, f"{Y} = 2024", "ASC"))),
    ("Which CRM system converts best for mortgages?", top("acceptance_rate", by("crm_system", RATE, "product_type = 'Mortgage'", "DESC"))),
    ("Which channel gets the most offers?", top("recommendations", by("channel", "count(*)", order="DESC"))),
    ("Which segment has the most customers?", top("customers", by("customer_segment", "count(DISTINCT customer_id)", order="DESC"), n=1)),
    ("which lifecycle stage has the lowest satisfaction", top("satisfaction", by_customer("customer_lifecycle_stage", "customer_satisfaction_score", order="ASC"))),
    ("top 3 products by churn", top("mean_churn", by_customer("product_name", "customer_churn_probability", order="DESC"))),
    ("which product type earns the most revenue", top("revenue", f"SELECT r.product_type, round(sum(r.product_sales_amount * p.margin), 2) FROM {{A}} r JOIN (SELECT product_id, max(margin) AS margin FROM products GROUP BY 1) p USING (product_id) WHERE r.{ACC} GROUP BY 1 ORDER BY 2 DESC")),
    ("top 5 products by revenue", top("revenue", f"SELECT r.product_name, sum(r.product_sales_amount * p.margin) FROM {{A}} r JOIN (SELECT product_id, max(margin) AS margin FROM products GROUP BY 1) p USING (product_id) WHERE r.{ACC} GROUP BY 1 ORDER BY 2 DESC")),
    ("Which source system has the lowest decided acceptance rate?", top("decided_acceptance_rate", f"SELECT source_system, {RATE} FROM {{A}} WHERE product_recommendation_status IN ('Accepted', 'Declined') GROUP BY 1 ORDER BY 2 ASC")),
    ("Which age band has the highest churn?", top("mean_churn", by_customer(AGE_BAND, "customer_churn_probability", order="DESC"))),
    # -- counts -------------------------------------------------------------------------------------------------
    ("How many mortgages were accepted in 2024?", scalar("recommendations", count(f"product_type = 'Mortgage' AND {ACC} AND {Y} = 2024"))),
    ("How many recommendations were made in 2025?", scalar("recommendations", count(f"{Y} = 2025"))),
    ("How many offers were declined in Q3 2026?", scalar("recommendations", count(f"product_recommendation_status = 'Declined' AND {Q3_2026}"))),
    ("How many customers are there?", scalar("customers", customers())),
    ("How many customers do we have in the Student segment?", scalar("customers", customers("customer_segment = 'Student'"))),
    ("How many students are there?", scalar("customers", customers("customer_segment = 'Student'"))),
    ("How many customers accepted a mortgage in 2025?", scalar("customers", customers(f"product_type = 'Mortgage' AND {ACC} AND {Y} = 2025"))),
    ("How many pending recommendations are there?", scalar("recommendations", count("product_recommendation_status = 'Pending'"))),
    ("How many offers are in progress?", scalar("recommendations", count("product_recommendation_status = 'In Progress'"))),
    ("number of accepted recommendations by channel", groups("accepted", by("channel", f"count(*) FILTER (WHERE {ACC})"))),
    ("How many recommendations by product type?", groups("recommendations", by("product_type", "count(*)"))),
    ("How many customers by segment?", groups("customers", by("customer_segment", "count(DISTINCT customer_id)"))),
    ("count of declined offers for high net worth customers", scalar("recommendations", count("product_recommendation_status = 'Declined' AND customer_segment = 'High Net Worth'"))),
    ("How many customers have a credit score above 800?", scalar("customers", customers("credit_score > 800"))),
    ("How many customers are aged between 30 and 40?", scalar("customers", customers("customer_age BETWEEN 30 AND 40"))),
    ("How many customers are older than 65?", scalar("customers", customers("customer_age > 65"))),
    ("How many undecided offers are there in 2026?", scalar("recommendations", count(f"product_recommendation_status IN ('Pending', 'In Progress') AND {Y} = 2026"))),
    ("How many accepted offers were made through the Mobile App in 2025?", scalar("accepted", count(f"{ACC} AND channel = 'Mobile App' AND {Y} = 2025"))),
    ("recommendations by month in 2026", groups("recommendations", by(f"strftime({D}, '%Y-%m')", "count(*)", f"{Y} = 2026"))),
    ("how many recommendations per quarter", groups("recommendations", by(QLABEL, "count(*)"))),
    ("number of customers by lifecycle stage", groups("customers", by("customer_lifecycle_stage", "count(DISTINCT customer_id)"))),
    ("How many customers with a credit score over 750 accepted a mortgage?", scalar("customers", customers(f"credit_score > 750 AND product_type = 'Mortgage' AND {ACC}"))),
    ("How many Temenos recommendations were accepted in 2025?", scalar("recommendations", count(f"source_system = 'Temenos' AND {ACC} AND {Y} = 2025"))),
    ("How many declined mortgage offers were there last quarter?", scalar("recommendations", count(f"product_recommendation_status = 'Declined' AND product_type = 'Mortgage' AND {Q3_2026}"))),
    ("show me declined mortgage offers last quarter", scalar("recommendations", count(f"product_recommendation_status = 'Declined' AND product_type = 'Mortgage' AND {Q3_2026}"))),
    ("how many offers went through the call centre in 2024", scalar("recommendations", count(f"channel = 'Call Center' AND {Y} = 2024"))),
    ("number of customers with a balance over 100k", scalar("customers", customers("account_balance > 100000"))),
    ("How many accepted offers did students get in 2025?", scalar("accepted", count(f"{ACC} AND customer_segment = 'Student' AND {Y} = 2025"))),
    # -- churn --------------------------------------------------------------------------------------------------
    ("churn for students", scalar("mean_churn", per_customer("customer_churn_probability", "customer_segment = 'Student'"))),
    ("What is the average churn probability?", scalar("mean_churn", per_customer("customer_churn_probability"))),
    ("mean churn probability for dormant customers", scalar("mean_churn", per_customer("customer_churn_probability", "customer_lifecycle_stage = 'Dormant'"))),
    ("Which segment has the highest churn?", top("mean_churn", by_customer("customer_segment", "customer_churn_probability", order="DESC"))),
    ("churn by lifecycle stage", groups("mean_churn", by_customer("customer_lifecycle_stage", "customer_churn_probability"))),
    ("churn by channel", groups("mean_churn", by_customer("channel", "customer_churn_probability"))),
    ("attrition risk for high net worth customers", scalar("mean_churn", per_customer("customer_churn_probability", "customer_segment = 'High Net Worth'"))),
    ("churn rate for customers with a credit score under 600", scalar("mean_churn", per_customer("customer_churn_probability", "credit_score < 600"))),
    ("churn for customers with decreasing usage", scalar("mean_churn", per_customer("customer_churn_probability", "customer_product_usage_trend = 'Decreasing'"))),
    ("How many customers are at high churn risk, by segment?", groups("high_churn_customers", "SELECT s, count(*) FILTER (WHERE c >= 0.5) FROM (SELECT customer_segment s, customer_id, avg(customer_churn_probability) c FROM {A} WHERE customer_segment IS NOT NULL GROUP BY 1, 2) GROUP BY 1")),
    ("how many customers are likely to churn, by segment?", groups("high_churn_customers", "SELECT s, count(*) FILTER (WHERE c >= 0.5) FROM (SELECT customer_segment s, customer_id, avg(customer_churn_probability) c FROM {A} WHERE customer_segment IS NOT NULL GROUP BY 1, 2) GROUP BY 1")),
    ("how many students are at high churn risk", scalar("high_churn_customers", "SELECT count(*) FROM (SELECT customer_id, avg(customer_churn_probability) c FROM {A} WHERE customer_segment = 'Student' GROUP BY 1) WHERE c >= 0.5")),
    ("share of customers at high churn risk by lifecycle stage", groups("high_churn_share", "SELECT s, avg(CASE WHEN c >= 0.5 THEN 1.0 ELSE 0.0 END) FROM (SELECT customer_lifecycle_stage s, customer_id, avg(customer_churn_probability) c FROM {A} WHERE customer_lifecycle_stage IS NOT NULL GROUP BY 1, 2) GROUP BY 1")),
    ("churn in the Mass Market segment", scalar("mean_churn", per_customer("customer_churn_probability", "customer_segment = 'Mass Market'"))),
    ("churn for customers aged over 70", scalar("mean_churn", per_customer("customer_churn_probability", "customer_age > 70"))),
    ("churn probability by age band", groups("mean_churn", by_customer(AGE_BAND, "customer_churn_probability"))),
    ("churn for customers with low affinity", scalar("mean_churn", per_customer("customer_churn_probability", "customer_product_affinity = 'Low'"))),
    ("What is the churn probability by lifecycle stage?", groups("mean_churn", by_customer("customer_lifecycle_stage", "customer_churn_probability"))),
    ("churn of customers offered a mortgage in 2025", scalar("mean_churn", per_customer("customer_churn_probability", f"product_type = 'Mortgage' AND {Y} = 2025"))),
    # -- satisfaction --------------------------------------------------------------------------------------------
    ("satisfaction for students", scalar("satisfaction", per_customer("customer_satisfaction_score", "customer_segment = 'Student'"))),
    ("How satisfied is each segment?", groups("satisfaction", by_customer("customer_segment", "customer_satisfaction_score"))),
    ("mean satisfaction by channel", groups("satisfaction", by_customer("channel", "customer_satisfaction_score"))),
    ("satisfaction score of dormant customers", scalar("satisfaction", per_customer("customer_satisfaction_score", "customer_lifecycle_stage = 'Dormant'"))),
    ("customer satisfaction for mortgages in 2025", scalar("satisfaction", per_customer("customer_satisfaction_score", f"product_type = 'Mortgage' AND {Y} = 2025"))),
    ("csat by age band", groups("satisfaction", by_customer(AGE_BAND, "customer_satisfaction_score"))),
    # -- money --------------------------------------------------------------------------------------------------
    ("revenue by product type", groups("revenue", f"SELECT r.product_type, round(sum(r.product_sales_amount * p.margin), 2) FROM {{A}} r JOIN (SELECT product_id, max(margin) AS margin FROM products GROUP BY 1) p USING (product_id) WHERE r.{ACC} GROUP BY 1", 0.011)),
    ("total revenue in 2025", scalar("revenue", revenue(f"year(r.{D}) = 2025"))),
    ("annual revenue for mortgages", scalar("revenue", revenue("r.product_type = 'Mortgage'"))),
    ("revenue by channel in 2024", groups("revenue", f"SELECT r.channel, sum(r.product_sales_amount * p.margin) FROM {{A}} r JOIN (SELECT product_id, max(margin) AS margin FROM products GROUP BY 1) p USING (product_id) WHERE r.{ACC} AND year(r.{D}) = 2024 GROUP BY 1")),
    ("sales amount for credit cards in 2025", scalar("sales_amount", sales(f"product_type = 'Credit Card' AND {Y} = 2025"))),
    ("total sales by segment", groups("sales_amount", by("customer_segment", f"sum(product_sales_amount) FILTER (WHERE {ACC})"))),
    ("average sale amount for mortgages", scalar("mean_sale", sales("product_type = 'Mortgage'", "avg"))),
    ("revenue from Email in Q1 2026", scalar("revenue", revenue(f"r.channel = 'Email' AND year(r.{D}) = 2026 AND quarter(r.{D}) = 1"))),
    ("average balance for high net worth customers", scalar("balance", per_customer("account_balance", "customer_segment = 'High Net Worth'"))),
    ("mean account balance by segment", groups("balance", by_customer("customer_segment", "account_balance"))),
    ("total balance of students", scalar("total_balance", per_customer("account_balance", "customer_segment = 'Student'", "sum"))),
    ("account balance for customers with a credit score over 700", scalar("balance", per_customer("account_balance", "credit_score > 700"))),
    ("average balance of seniors", scalar("balance", per_customer("account_balance", "customer_age >= 65"))),
    ("what's the average balance for seniors year to date", scalar("balance", per_customer("account_balance", f"customer_age >= 65 AND {D} >= DATE '2026-01-01'"))),
    # -- other measures -------------------------------------------------------------------------------------------
    ("mean recommendation score by channel", groups("score", by("channel", "avg(recommendation_score)"))),
    ("average score for accepted offers", scalar("score", f"SELECT avg(recommendation_score) FROM {{A}} WHERE {ACC}")),
    ("product usage for mortgages", scalar("usage", "SELECT avg(customer_product_usage) FROM {A} WHERE product_type = 'Mortgage'")),
    ("transaction value by segment", groups("transaction_value", by_customer("customer_segment", "customer_transaction_value"))),
    ("average income of high net worth customers", scalar("income", per_customer("annual_income", "customer_segment = 'High Net Worth'"))),
    ("mean credit score by segment", groups("credit_score", by_customer("customer_segment", "credit_score"))),
    ("average age by segment", groups("age", by_customer("customer_segment", "customer_age"))),
    ("average age of customers who accepted a mortgage", scalar("age", per_customer("customer_age", f"{ACC} AND product_type = 'Mortgage'"))),
    ("mean transaction count for students", scalar("transaction_count", per_customer("customer_transaction_count", "customer_segment = 'Student'"))),
    ("mean satisfaction of customers nearing retirement", scalar("satisfaction", per_customer("customer_satisfaction_score", "customer_age >= 55 AND customer_age < 65"))),
    # -- comparisons ------------------------------------------------------------------------------------------
    ("What drove the drop in mortgage acceptance in Q3 compared to Q2?", compare("acceptance_rate", both(RATE_IN, f"product_type = 'Mortgage' AND {Q3_2026}", f"product_type = 'Mortgage' AND {Q2_2026}"))),
    ("acceptance rate Q3 vs Q2", compare("acceptance_rate", both(RATE_IN, Q3_2026, Q2_2026))),
    ("acceptance rate in 2025 compared to 2024", compare("acceptance_rate", both(RATE_IN, f"{Y} = 2025", f"{Y} = 2024"))),
    ("how did the acceptance rate for Email change between 2024 and 2025", compare("acceptance_rate", both(RATE_IN, f"channel = 'Email' AND {Y} = 2025", f"channel = 'Email' AND {Y} = 2024"))),
    ("recommendations quarter over quarter", compare("recommendations", both(COUNT_IN, Q3_2026, Q2_2026))),
    ("revenue in 2025 versus 2024", compare("revenue", f"SELECT ({revenue(f'year(r.{D}) = 2025')}), ({revenue(f'year(r.{D}) = 2024')})".replace("{A}", "{{A}}").replace("{{A}}", "{A}"))),
    ("How did the number of accepted offers change from Q1 2026 to Q2 2026?", compare("accepted", both(COUNT_IN, f"{ACC} AND {Q2_2026}", f"{ACC} AND {D} >= DATE '2026-01-01' AND {D} < DATE '2026-04-01'"))),
    ("What drove the change in accepted recommendations in 2025 compared to 2024?", compare("accepted", both(COUNT_IN, f"{ACC} AND {Y} = 2025", f"{ACC} AND {Y} = 2024"))),
    ("year over year acceptance rate", compare("acceptance_rate", both(RATE_IN, f"{Y} = 2026", f"{Y} = 2025"))),
    ("acceptance rate for students in Q2 2026 vs Q1 2026", compare("acceptance_rate", both(RATE_IN, f"customer_segment = 'Student' AND {Q2_2026}", f"customer_segment = 'Student' AND {D} >= DATE '2026-01-01' AND {D} < DATE '2026-04-01'"))),
    ("acceptance rate Q3 vs Q2 by channel", groups("acceptance_rate__current", by("channel", RATE, Q3_2026))),
    ("Why did mortgage acceptance fall in 2025 compared with 2024?", compare("acceptance_rate", both(RATE_IN, f"product_type = 'Mortgage' AND {Y} = 2025", f"product_type = 'Mortgage' AND {Y} = 2024"))),
    ("what share of offers were accepted", scalar("acceptance_rate", rate())),
    ("What percentage of Email offers were accepted in 2025?", scalar("acceptance_rate", rate(f"channel = 'Email' AND {Y} = 2025"))),
    ("How many mortgages were sold in 2024?", scalar("recommendations", count(f"product_type = 'Mortgage' AND {ACC} AND {Y} = 2024"))),
    ("acceptance rate for non-mortgage products", scalar("acceptance_rate", rate("product_type IS DISTINCT FROM 'Mortgage'"))),
    ("acceptance rate for customers who are not students", scalar("acceptance_rate", rate("customer_segment IS DISTINCT FROM 'Student'"))),
    ("mortgage acceptance rate in Q3", scalar("acceptance_rate", rate(f"product_type = 'Mortgage' AND {Q3_2026}"))),
    ("what was the acceptance rate for the mobile app in january", scalar("acceptance_rate", rate(f"channel = 'Mobile App' AND {Y} = 2026 AND month({D}) = 1"))),
    ("How many high net worth customers are dormant?", scalar("customers", customers("customer_segment = 'High Net Worth' AND customer_lifecycle_stage = 'Dormant'"))),
    ("average churn of customers with a balance under 1k", scalar("mean_churn", per_customer("customer_churn_probability", "account_balance < 1000"))),
    ("acceptance rate for customers with a credit score of at least 700 and aged under 40", scalar("acceptance_rate", rate("credit_score >= 700 AND customer_age < 40"))),
    ("acceptance for customers with churn over 50%", scalar("acceptance_rate", rate("customer_churn_probability > 0.5"))),
    ("how many offers had a score above 0.9 in 2025", scalar("recommendations", count(f"recommendation_score > 0.9 AND {Y} = 2025"))),
    ("revenue last quarter by channel", groups("revenue", f"SELECT r.channel, sum(r.product_sales_amount * p.margin) FROM {{A}} r JOIN (SELECT product_id, max(margin) AS margin FROM products GROUP BY 1) p USING (product_id) WHERE r.{ACC} AND r.{Q3_2026} GROUP BY 1")),
    ("acceptance rate by channel for the last 3 months", groups("acceptance_rate", by("channel", RATE, f"{D} >= DATE '2026-07-01'"))),
    ("top 3 channels by acceptance rate for students in 2025", top("acceptance_rate", by("channel", RATE, f"customer_segment = 'Student' AND {Y} = 2025", "DESC"))),
    ("acceptance rate of mortgages vs credit cards", groups("acceptance_rate", by("product_type", RATE, "product_type IN ('Mortgage', 'Credit Card')"))),
    ("acceptance rate by channel excluding mobile app and email", groups("acceptance_rate", by("channel", RATE, "channel NOT IN ('Mobile App', 'Email')"))),
    ("acceptance rate this year vs last year", compare("acceptance_rate", both(RATE_IN, f"{Y} = 2026", f"{Y} = 2025"))),
    ("acceptance rate this quarter compared to last quarter", compare("acceptance_rate", both(RATE_IN, Q3_2026, Q2_2026))),
    ("which quarter had the highest acceptance rate?", top("acceptance_rate", by(QLABEL, RATE, order="DESC"))),
    ("which month had the most recommendations in 2025?", top("recommendations", by(f"strftime({D}, '%Y-%m')", "count(*)", f"{Y} = 2025", "DESC"))),
    ("How much revenue did mortgages make in 2024?", scalar("revenue", revenue(f"r.product_type = 'Mortgage' AND year(r.{D}) = 2024"))),
    ("acceptance rate for Zoho in Q4", scalar("acceptance_rate", rate(f"crm_system = 'Zoho' AND {Y} = 2025 AND {Q} = 4"))),
    ("acceptance rate between 2024 and 2025", scalar("acceptance_rate", rate(f"{Y} IN (2024, 2025)"))),
    ("acceptance rate for new customers", scalar("acceptance_rate", rate("customer_lifecycle_stage = 'New'"))),
    ("customers over 60", scalar("customers", customers("customer_age > 60"))),
    ("Average satisfaction for customers over 65", scalar("satisfaction", per_customer("customer_satisfaction_score", "customer_age > 65"))),
    ("Compare acceptance between Salesforce and HubSpot", groups("acceptance_rate", by("crm_system", RATE, "crm_system IN ('Salesforce', 'HubSpot')"))),
    ("acceptance trend for mortgages in 2025", groups("acceptance_rate", by(f"strftime({D}, '%Y-%m')", RATE, f"product_type = 'Mortgage' AND {Y} = 2025"))),
    ("How many customers are both students and dormant?", scalar("customers", customers("customer_segment = 'Student' AND customer_lifecycle_stage = 'Dormant'"))),
    ("What share of customers are at high churn risk?", scalar("high_churn_share", "SELECT avg(CASE WHEN c >= 0.5 THEN 1.0 ELSE 0.0 END) FROM (SELECT customer_id, avg(customer_churn_probability) c FROM {A} GROUP BY 1)")),
    ("What's our conversion rate on credit cards this year?", scalar("acceptance_rate", rate(f"product_type = 'Credit Card' AND {Y} = 2026"))),
    ("How many people declined an offer in 2025?", scalar("customers", customers(f"product_recommendation_status = 'Declined' AND {Y} = 2025"))),
    ("Which lifecycle stage converts worst?", top("acceptance_rate", by("customer_lifecycle_stage", RATE, order="ASC"))),
    ("How did churn change between Q1 and Q2 2026?", compare("mean_churn", f"SELECT ({per_customer('customer_churn_probability', Q2_2026)}), ({per_customer('customer_churn_probability', f'{D} >= DATE {chr(39)}2026-01-01{chr(39)} AND {D} < DATE {chr(39)}2026-04-01{chr(39)}')})")),
    ("recommendation score for declined offers", scalar("score", "SELECT avg(recommendation_score) FROM {A} WHERE product_recommendation_status = 'Declined'")),
    ("which channel has the most mortgage offers", top("recommendations", by("channel", "count(*)", "product_type = 'Mortgage'", "DESC"), n=1)),
    ("Which CRM has the most declined offers?", top("recommendations", by("crm_system", "count(*)", "product_recommendation_status = 'Declined'", "DESC"), n=1)),
    ("top products by revenue", top("revenue", f"SELECT r.product_name, sum(r.product_sales_amount * p.margin) FROM {{A}} r JOIN (SELECT product_id, max(margin) AS margin FROM products GROUP BY 1) p USING (product_id) WHERE r.{ACC} GROUP BY 1 ORDER BY 2 DESC", n=5)),
    ("which segments have the highest churn", top("mean_churn", by_customer("customer_segment", "customer_churn_probability", order="DESC"), n=5)),
    ("What is the take-up of savings among young professionals?", scalar("acceptance_rate", rate("product_type = 'Savings' AND customer_segment = 'Young Professional'"))),
    ("How many dormant customers have a credit score above 700?", scalar("customers", customers("customer_lifecycle_stage = 'Dormant' AND credit_score > 700"))),
    ("acceptance rate among customers with poor credit", scalar("acceptance_rate", rate("credit_score < 580"))),
    ("churn for customers aged 18 to 24", scalar("mean_churn", per_customer("customer_churn_probability", "customer_age BETWEEN 18 AND 24"))),
    ("How many recommendations were made to students in H2 2025?", scalar("recommendations", count(f"customer_segment = 'Student' AND {Y} = 2025 AND month({D}) >= 7"))),
    # -- what cannot be answered ----------------------------------------------------------------------------------
    ("What will acceptance be next year?", REFUSE),
    ("What is the acceptance rate for retirees?", REFUSE),
    ("revenue per customer", REFUSE),
    ("Why do students churn?", REFUSE),
    ("What will the weather be tomorrow?", REFUSE),
    ("acceptance rate for declined offers", REFUSE),
    ("average revenue by channel", REFUSE),
    ("What is the highest acceptance rate?", REFUSE),
    ("acceptance rate for Email in 2031", REFUSE),
    ("How many customers joined in 2022?", REFUSE),
    ("acceptance rate for gold members", REFUSE),
    ("Which advisor sold the most?", REFUSE),
    ("profit by segment", REFUSE),
    ("acceptance rate for stable customers", REFUSE),
    ("churn for falling customers", REFUSE),
    ("Did acceptance drop?", REFUSE),
    ("customer lifetime value by segment", REFUSE),
    ("acceptance in 2024 and 2025", REFUSE),
    ("median balance", REFUSE),
    ("Compare apples and oranges", REFUSE),
    ("acceptance rate for Email in the Paris branch", REFUSE),
    ("How many mortgages will be accepted next quarter?", REFUSE),
    ("acceptance rate for customers from Texas", REFUSE),
    ("What is the net promoter score?", REFUSE),
    ("Email", REFUSE),
    ("How many customers did not accept?", REFUSE),
    ("How many customers have more than one offer?", REFUSE),
    ("is the acceptance rate for email higher than for branch?", REFUSE),
    ("what about students?", REFUSE),
    ("acceptance rate in Q5", REFUSE),
    ("How many customers over 10k", REFUSE),
    ("list top customers", REFUSE),
    ("What percentage of offers are still pending?", REFUSE),
    ("Show me the top 5 products for high net worth customers", REFUSE),
    ("median churn", REFUSE),
    ("acceptance rate in 2025 vs 2025", REFUSE),
    ("acceptance rate for loans", REFUSE),
    ("Which segment has the highest churn among mortgage holders?", REFUSE),
]
