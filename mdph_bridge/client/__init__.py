"""The receiving MDPH's client: runs on its own machine, so plaintext never exists on the hub."""
