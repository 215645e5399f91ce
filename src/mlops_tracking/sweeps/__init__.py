"""Hyperparameter sweeps: an Optuna study whose trials are light child runs of one parent run.

``study`` opens the shared Optuna storage, ``trial`` is the objective (fit, score, prune, log
one light run), ``workers`` runs it in several processes, ``figures`` draws the study, and
``sweep`` composes them and trains the best trial again as a full run.
"""
