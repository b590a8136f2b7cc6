"""The sandbox's Microsoft Entra ID (v2.0 endpoints): discovery, authorize, token, device code, keys."""
