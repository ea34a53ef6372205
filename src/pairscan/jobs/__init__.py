"""One module per command: the only place where I/O and computation meet."""
