"""The weekly reminder to leads, what its buttons do, and introductions (matchmaking)."""
