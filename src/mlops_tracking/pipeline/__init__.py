"""The DVC pipeline: its stages, reproducing a run, and the data versions runs used."""
