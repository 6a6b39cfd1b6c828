"""Celery application and tasks: jobs, connectors, timers, supervision scans."""
