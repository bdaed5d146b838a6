"""Slack: the Bolt app, Block Kit, the sender and what the bot asks of Slack."""
