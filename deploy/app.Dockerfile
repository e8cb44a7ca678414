# The producers and the console (python -m producers; gunicorn "app:create_app()").
FROM python:3.11.11-slim-bookworm
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY app/ app/
COPY assets/ assets/
COPY pipeline/ pipeline/
COPY producers/ producers/
USER nobody
EXPOSE 8050
