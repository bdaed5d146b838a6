"""Microsoft Teams: the Teams SDK app, Adaptive Cards, the sender and the app package."""
