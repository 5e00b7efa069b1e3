"""imageaccess: self-hostable Image Access Management for Docker Hub images."""

from imageaccess.celery import app as celery_app

__all__ = ("celery_app",)
