"""OAuth2 on the wire, without state: the authorisation URL with PKCE, the code exchange, the
refresh, the device-flow requests and the HTTP client they share. Runs in the server process;
imports config and the shared leaves, never server.
"""
