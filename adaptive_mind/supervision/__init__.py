"""The Supervisor: failover coordination across providers, deadlines, and child supervision."""
