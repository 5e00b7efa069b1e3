# The imageaccess application image: web (granian), Celery worker and beat share it.
FROM python:3.11-slim AS app
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    IMAGEACCESS_DATA_DIR=/var/lib/imageaccess
WORKDIR /app
# Every dependency from the lock files, each file checked against its hash; then the project
# itself, which brings nothing more (--no-deps) and builds with the locked setuptools.
COPY requirements/build.txt requirements/runtime.txt ./requirements/
RUN pip install --require-hashes -r requirements/build.txt -r requirements/runtime.txt
COPY pyproject.toml README.md LICENSE NOTICE ./
COPY imageaccess ./imageaccess
COPY orgs ./orgs
COPY policies ./policies
RUN pip install --no-deps --no-build-isolation . && rm -rf build ./*.egg-info \
    && useradd --system --home /app imageaccess \
    && mkdir -p /var/lib/imageaccess && chown imageaccess /var/lib/imageaccess
COPY manage.py ./
COPY templates ./templates
COPY static ./static
USER imageaccess
EXPOSE 8000
CMD ["granian", "--interface", "wsgi", "--host", "0.0.0.0", "--port", "8000", \
     "--workers", "2", "--blocking-threads", "1", "imageaccess.wsgi:application"]
