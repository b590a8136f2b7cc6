"""Graph's protocol without I/O: operations that build `Request`s and read `Response`s, one module per area."""
