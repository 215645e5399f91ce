"""A team's tracking server: MLflow's server on PostgreSQL, with proxied artifacts and auth."""
