"""MediaMTX's own configuration: the Control API client, the path-configuration
entries the operator keeps (today recording's), and the loop that applies them."""
