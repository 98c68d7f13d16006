"""Obzvon shared library: one package used by every service."""
