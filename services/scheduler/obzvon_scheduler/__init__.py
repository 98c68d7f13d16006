"""Scheduler: the public gRPC API, campaign state in Redis, and the dispatcher that decides who is called when."""
