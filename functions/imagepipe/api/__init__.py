"""HTTP API (API Gateway HTTP API, payload v2) built on Powertools' event handler."""
