"""The model registry: register, gate, promote, roll back, lineage, serve and predict."""
