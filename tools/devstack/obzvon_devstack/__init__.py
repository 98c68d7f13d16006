"""Dev tooling, not part of any service image: the local stack of service processes and the demo campaign."""
