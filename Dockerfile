# One image for web, worker, beat and flower; the command decides the role.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_SETTINGS_MODULE=config.settings.production

WORKDIR /app
RUN useradd --create-home --uid 10001 app
# Exactly uv.lock, hashes checked, like `make install` (docs/dependencies.md): the pinned
# uv from hash-checked requirements, then the locked packages before the sources, so a
# code change does not reinstall them. DJANGO_GROUP picks the Django line (django60 needs
# a python:3.12+ base image).
ARG DJANGO_GROUP=django52
ENV UV_PROJECT_ENVIRONMENT=/app/.venv \
    UV_PYTHON_DOWNLOADS=never \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    PATH=/app/.venv/bin:$PATH
COPY devstack/uv-requirements.txt /tmp/uv-requirements.txt
RUN pip install --no-cache-dir --no-deps --require-hashes -r /tmp/uv-requirements.txt
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --locked --no-cache --no-default-groups --group "$DJANGO_GROUP" --no-install-project
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
RUN uv sync --locked --no-cache --no-default-groups --group "$DJANGO_GROUP" --no-editable \
    && DJANGO_SECRET_KEY=build DJANGO_ALLOWED_HOSTS=build DATABASE_URL=postgres://build/build \
       REDIS_URL=redis://build:6379/0 EMAIL_URL=consolemail:// \
       python manage.py collectstatic --noinput \
    && mkdir -p /app/var/media && chown -R app /app/var
USER app
EXPOSE 8000
CMD ["gunicorn", "config.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", "--timeout", "60"]
