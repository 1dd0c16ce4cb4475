"""Events, their topics, sinks and the ledger's schema and stores."""
