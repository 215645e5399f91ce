"""Compare two or more runs on one page: read them from the store, write HTML and Markdown."""
