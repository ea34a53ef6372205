"""Local fake servers (exchange, chat) that real clients talk to over HTTP in tests."""
