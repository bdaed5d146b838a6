"""The console: trying the bot in a terminal (`make run`), as any person, with no chat."""
