"""Runnable, verifiable MLOps experiment tracking with MLflow 3."""

__version__ = "0.1.0"
