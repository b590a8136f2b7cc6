"""Graph's users area: profiles and profile photos."""
