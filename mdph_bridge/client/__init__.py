"""The receiving MDPH's client: runs on its own machine, so plaintext never exists on the hub."""

# Sent to the hub in the User-Agent; also the version of the client-only distribution.
VERSION = "1.0.0"
