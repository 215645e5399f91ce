"""The tracked run: the training and comparison workflows and their MLflow shell."""
