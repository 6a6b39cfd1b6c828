"""HTTP layer: parse, authorise, call one service, serialise."""
