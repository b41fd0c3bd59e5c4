# dgen-ping production image: gunicorn serving the Django WSGI app on port 8001.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PORT=8001 \
    DATABASE_URL=sqlite:////data/db.sqlite3 \
    CSV_FALLBACK_DIR=/data/telemetry_logs

WORKDIR /app
COPY requirements/base.txt requirements/base.txt
RUN pip install -r requirements/base.txt

COPY . .
# The pages' CSS and JavaScript (admin, API docs), served by WhiteNoise from /app/staticfiles.
# Development mode only so that the settings load without the production secrets.
RUN DEBUG=true python manage.py collectstatic --noinput --verbosity 0
RUN useradd --system --uid 10001 --home-dir /app dgen \
    && mkdir -p /data \
    && chown dgen /data
USER dgen
# Django's tables (revocations) and the telemetry spool/CSV fallback live here.
VOLUME ["/data"]
EXPOSE 8001

HEALTHCHECK --interval=30s --timeout=5s --start-period=10s \
    CMD python -c "import urllib.request,os; urllib.request.urlopen(f'http://127.0.0.1:{os.environ[\"PORT\"]}/health', timeout=4)"

# SECRET_KEY and TOKEN_SECRET must be given at run time (see README: Deploy).
CMD ["sh", "-c", "python manage.py migrate --noinput && exec gunicorn -c gunicorn.conf.py dgen_ping_site.wsgi"]
