"""Dialer: takes dial requests, places each call (call.py), walks its script (dialog.py)."""
