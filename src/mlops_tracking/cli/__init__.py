"""The ``mlops-tracking`` command line: one command module per capability, table renderers."""
