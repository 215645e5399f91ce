"""The tracking shell: the only package that writes runs to MLflow.

Modules here take values computed by the functional core (datasets, fitted pipelines, metrics,
figures) and record them; they never compute results of their own.
"""
