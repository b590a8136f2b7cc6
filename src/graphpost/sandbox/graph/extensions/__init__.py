"""Graph's open extensions on users (directory) and messages (Outlook)."""
