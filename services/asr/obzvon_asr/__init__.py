"""Obzvon speech recognition: callee replies -> text and intent."""
