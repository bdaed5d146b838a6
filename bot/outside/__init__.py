"""Reaching people outside chat: e-mail and text senders, signed links and calendar entries."""
