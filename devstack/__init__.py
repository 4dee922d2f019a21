"""Local development stack: embedded PostgreSQL and Redis, and the run/test entry points."""
