"""Copy runs between tracking stores: the offline spool to its server, or a whole store."""
