# Production-like image: gunicorn serving Django, the same image runs the Celery worker and beat.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VAR_DIR=/var/lib/voltrace/var MEDIA_ROOT=/var/lib/voltrace/media

# Pango/HarfBuzz for WeasyPrint PDFs, a CJK font so Chinese renders, zbar for QR decoding, gettext.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz0b \
    fonts-wqy-microhei libzbar0 gettext curl \
 && rm -rf /var/lib/apt/lists/*

RUN useradd --create-home --uid 10001 voltrace && mkdir -p /var/lib/voltrace && chown voltrace /var/lib/voltrace
WORKDIR /app
COPY requirements/ requirements/
RUN pip install --no-cache-dir -r requirements/base.txt
COPY . .
# collectstatic needs settings but no real secrets: throwaway values for this build step only.
RUN DEBUG=false SECRET_KEY=build-only ALLOWED_HOSTS=build PUBLIC_BASE_URL=https://build.invalid \
    KEY_ENCRYPTION_KEYS=build:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= \
    LOG_SIGNING_KEY=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= PSEUDONYM_KEY=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= VAR_DIR=/tmp/build-var \
    python manage.py collectstatic --noinput \
 && rm -rf /tmp/build-var
USER voltrace
EXPOSE 8000
CMD ["gunicorn", "config.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "2", "--worker-class", "gthread", "--threads", "4", "--access-logfile", "-"]
