# One image for web, worker, beat and flower; the command decides the role.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_SETTINGS_MODULE=config.settings.production

WORKDIR /app
RUN useradd --create-home --uid 10001 app
COPY pyproject.toml README.md ./
COPY config ./config
COPY devstack ./devstack
COPY schedules ./schedules
COPY batches ./batches
COPY reporting ./reporting
COPY ops ./ops
COPY catalogue ./catalogue
COPY common ./common
COPY templates ./templates
COPY manage.py ./
RUN pip install --no-cache-dir . \
    && DJANGO_SECRET_KEY=build DJANGO_ALLOWED_HOSTS=build DATABASE_URL=postgres://build/build \
       REDIS_URL=redis://build:6379/0 EMAIL_URL=consolemail:// \
       python manage.py collectstatic --noinput \
    && mkdir -p /app/var/media && chown -R app /app/var
USER app
EXPOSE 8000
CMD ["gunicorn", "config.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", "--timeout", "60"]
