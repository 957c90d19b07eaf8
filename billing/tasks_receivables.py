"""Celery tasks; see billing/tasks.py."""
