"""Read a run back from the tracking store and check it against the outline, item by item."""
