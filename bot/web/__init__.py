"""The pages people outside chat open from their e-mails and texts, served by qi-nudge serve."""
