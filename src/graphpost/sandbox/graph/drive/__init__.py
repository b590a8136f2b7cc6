"""Graph's OneDrive area: items, uploads, sharing links, and the web pages links open."""
