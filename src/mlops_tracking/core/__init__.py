"""The pure core: config, data, features, models, training, evaluation, export, rules. No MLflow."""
