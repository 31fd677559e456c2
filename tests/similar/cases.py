"""The similarity search's evaluation set: questions relationship managers ask, each with the exact truth of its
constraints as independent SQL over ``{A}`` (the records without soft-deleted rows, one condition per customer,
written by hand, not by the parser) and the planted semantic intent it asks about.

Relevance of a customer to a question's intent (graded, for NDCG@10): 2 when the customer's planted stated goal
(``customer_goals``, generator ``GOALS``) is one of the intents named; 1 when the goal's product type or one of
the customer's stated interests (generator ``INTERESTS``) is one of the product types named; else 0.
"""

from __future__ import annotations

from dataclasses import dataclass

ACC = "product_recommendation_status = 'Accepted'"


@dataclass(frozen=True)
class Case:
    question: str
    having: str  # condition on the customer's records (aggregates), or "" for every customer
    goals: tuple[str, ...]  # grade 2
    types: tuple[str, ...]  # grade 1


def holds(product_type: str, extra: str = "") -> str:
    return (f"bool_or(product_type = '{product_type}' AND {ACC}{' AND ' + extra if extra else ''})")


def seg(name: str) -> str:
    return f"bool_and(customer_segment = '{name}')"


def stage(name: str) -> str:
    return f"bool_and(customer_lifecycle_stage = '{name}')"


def between(col: str, low: float, high: float, high_inclusive: bool = False) -> str:
    return f"avg({col}) >= {low} AND avg({col}) {'<=' if high_inclusive else '<'} {high}"


CASES: list[Case] = [
    # the three example queries of the source document
    Case("Customers with credit score over 750 interested in investment products", "avg(credit_score) > 750",
         ("grow_wealth", "retirement"), ("Investment",)),
    Case("Young professionals with good credit scores who might qualify for premium credit cards",
         f"{seg('Young Professional')} AND {between('credit_score', 670, 740)}", ("travel_card",), ("Credit Card",)),
    Case("Find high-income professionals nearing retirement who might be interested in wealth management services",
         f"avg(annual_income) >= 100000 AND {between('customer_age', 55, 65)}", ("estate",), ("Wealth Management",)),
    # segments, stages and bands
    Case("students interested in a simple banking app", seg("Student"), ("everyday",), ("Checking",)),
    Case("mass market customers who might need a loan for a new car", seg("Mass Market"), ("car",),
         ("Personal Loan",)),
    Case("high net worth customers interested in estate planning", seg("High Net Worth"), ("estate",),
         ("Wealth Management",)),
    Case("small business owners interested in a rainy day fund", seg("Small Business"), ("rainy_day",),
         ("Savings",)),
    Case("dormant customers who might want cashback on their spending", stage("Dormant"), ("cashback_card",),
         ("Credit Card",)),
    Case("customers in the new lifecycle stage interested in a current account", stage("New"), ("everyday",),
         ("Checking",)),
    Case("customers in stage Mature interested in saving", stage("Mature"), ("rainy_day",), ("Savings",)),
    Case("customers at risk interested in a better deal on their mortgage", stage("At Risk"), ("remortgage",),
         ("Mortgage",)),
    Case("customers with lifecycle stage growing who might want to buy a home", stage("Growing"), ("first_home",),
         ("Mortgage",)),
    Case("students who might want a credit card", seg("Student"), ("cashback_card", "travel_card"),
         ("Credit Card",)),
    Case("young professionals who might want a remortgage", seg("Young Professional"), ("remortgage",),
         ("Mortgage",)),
    Case("young professionals interested in protecting their family", seg("Young Professional"), ("family_cover",),
         ("Insurance",)),
    Case("small business customers interested in wealth management", seg("Small Business"), ("estate",),
         ("Wealth Management",)),
    Case("high net worth customers who might be interested in a premium credit card", seg("High Net Worth"),
         ("travel_card",), ("Credit Card",)),
    Case("customers with exceptional credit interested in travel rewards", "avg(credit_score) >= 800",
         ("travel_card",), ("Credit Card",)),
    Case("customers with poor credit who might want to consolidate their debts", "avg(credit_score) < 580",
         ("consolidate",), ("Personal Loan",)),
    Case("customers with fair credit looking to get on the property ladder", between("credit_score", 580, 670),
         ("first_home",), ("Mortgage",)),
    Case("middle income customers interested in paying off debts", between("annual_income", 30000, 100000),
         ("consolidate",), ("Personal Loan",)),
    # numeric comparisons
    Case("customers aged 25 to 34 looking for their first home", between("customer_age", 25, 34, True),
         ("first_home",), ("Mortgage",)),
    Case("customers over 60 who might want a steady retirement income", "avg(customer_age) > 60", ("retirement",),
         ("Investment",)),
    Case("customers aged 55 to 64 interested in pension drawdown", between("customer_age", 55, 64, True),
         ("retirement",), ("Investment",)),
    Case("customers with income over 150k who might be interested in a private banker", "avg(annual_income) > 150000",
         ("estate",), ("Wealth Management",)),
    Case("customers with satisfaction over 8 interested in investing", "avg(customer_satisfaction_score) > 8",
         ("grow_wealth", "retirement"), ("Investment",)),
    Case("customers under 30 interested in rewards credit cards", "avg(customer_age) < 30",
         ("cashback_card", "travel_card"), ("Credit Card",)),
    Case("customers with a balance under 5k who might need a personal loan", "avg(account_balance) < 5000",
         ("car", "consolidate"), ("Personal Loan",)),
    Case("customers with credit score between 650 and 700 interested in a car loan",
         between("credit_score", 650, 700, True), ("car",), ("Personal Loan",)),
    Case("customers at high churn risk interested in a better savings rate", "avg(customer_churn_probability) >= 0.5",
         ("rainy_day",), ("Savings",)),
    Case("customers with churn probability over 30% who might want a simpler bank account",
         "avg(customer_churn_probability) > 0.3", ("everyday",), ("Checking",)),
    Case("affluent customers with a balance over 20k interested in growing their savings in the stock market",
         f"{seg('Mass Affluent')} AND avg(account_balance) > 20000", ("grow_wealth",), ("Investment",)),
    Case("mass affluent customers nearing retirement interested in inheritance planning",
         f"{seg('Mass Affluent')} AND {between('customer_age', 55, 65)}", ("estate",), ("Wealth Management",)),
    Case("mass market customers aged 35 to 44 interested in a mortgage",
         f"{seg('Mass Market')} AND {between('customer_age', 35, 44, True)}", ("first_home", "remortgage"),
         ("Mortgage",)),
    # products held or not
    Case("customers without a mortgage interested in buying a house", f"NOT {holds('Mortgage')}", ("first_home",),
         ("Mortgage",)),
    Case("customers with a mortgage who might want to protect their family", holds("Mortgage"), ("family_cover",),
         ("Insurance",)),
    Case("customers who hold no insurance interested in life cover", f"NOT {holds('Insurance')}", ("family_cover",),
         ("Insurance",)),
    Case("customers holding a credit card interested in airport lounges", holds("Credit Card"), ("travel_card",),
         ("Credit Card",)),
    Case("high income customers without wealth management interested in managing a large portfolio",
         f"avg(annual_income) >= 100000 AND NOT {holds('Wealth Management')}", ("estate",), ("Wealth Management",)),
    Case("customers with a personal loan interested in a rainy day fund", holds("Personal Loan"), ("rainy_day",),
         ("Savings",)),
    Case("customers aged over 45 holding a savings account interested in investment funds",
         f"avg(customer_age) > 45 AND {holds('Savings')}", ("grow_wealth", "retirement"), ("Investment",)),
    Case("customers over 50 with an investment who might want estate planning",
         f"avg(customer_age) > 50 AND {holds('Investment')}", ("estate",), ("Wealth Management",)),
    Case("customers who accepted a mortgage in 2025 interested in insurance",
         "bool_or(product_type = 'Mortgage' AND product_recommendation_status = 'Accepted' AND "
         "product_recommendation_date >= DATE '2025-01-01' AND product_recommendation_date < DATE '2026-01-01')",
         ("family_cover",), ("Insurance",)),
    Case("customers offered an investment product who might want to save for emergencies",
         "bool_or(product_type = 'Investment')", ("rainy_day",), ("Savings",)),
]
EXAMPLES = CASES[:3]
