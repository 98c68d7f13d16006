"""Reporting: call events aggregated per campaign by a faust-streaming app, served over gRPC."""
