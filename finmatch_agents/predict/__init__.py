"""Predictive models (reference 004, issue 14): conversion propensity, churn risk and next best action.

One pipeline for every task (docs/predict.md): the task's rows in time order (:mod:`.tasks`, :mod:`.frame`),
the leakage guard's rules (:mod:`.columns`), a logistic baseline and gradient boosting (:mod:`.models`),
a time-ordered holdout with random k-fold beside it and bootstrap intervals (:mod:`.train`, :mod:`.metrics`),
explanations (:mod:`.explain`), the registry (:mod:`.registry`), batch and one-customer scoring
(:mod:`.score`), next best action among suitable products (:mod:`.nba`), population stability
(:mod:`.monitor`) and the small API the agents and the chat call (:mod:`.api`).
"""
