"""HTTP adapter (aiohttp): TLS, the filter chain, routing to the registry, watch streaming."""
