"""Settings of gatewayd's minimal Django demo: one view, no database."""
import os

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "gatewayd-demo-not-secret")
DEBUG = False
ALLOWED_HOSTS = ["*"]

INSTALLED_APPS = []
MIDDLEWARE = [
    "django.middleware.common.CommonMiddleware",
]
ROOT_URLCONF = "demo.urls"
WSGI_APPLICATION = "demo.wsgi.application"

# No database: the view needs none. (An in-memory SQLite would do as well.)
DATABASES = {}

TEMPLATES = []
USE_TZ = True
TIME_ZONE = "UTC"
USE_I18N = False
APPEND_SLASH = True

# Errors go to wsgi.errors' neighbour, the worker's stderr: gatewayd logs it.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"stderr": {"class": "logging.StreamHandler"}},
    "loggers": {"django": {"handlers": ["stderr"], "level": "WARNING"}},
}
