"""Celery app and tasks: thin shells over mdph_bridge.services."""
