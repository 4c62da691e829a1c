"""Local stack support (development only, never imported by the Lambda handlers): reading
template.yaml, building AWS-shaped events."""
