# The Recap server with the built front end. Used by compose.yml.
FROM node:20-bookworm-slim AS frontend
WORKDIR /src/frontend
COPY frontend/package.json frontend/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY frontend/ ./
COPY tests/vectors /src/tests/vectors
RUN npm run build

FROM python:3.11-slim-bookworm
WORKDIR /app
COPY pyproject.toml constraints.txt ./
COPY crdt crdt
COPY sync_server sync_server
COPY recap_client recap_client
COPY bench bench
RUN pip install --no-cache-dir -c constraints.txt -e .
COPY migrations migrations
COPY seed.py ./
COPY --from=frontend /src/frontend/dist frontend/dist
ENV PYTHONUNBUFFERED=1
EXPOSE 8080
CMD ["python", "-m", "sync_server", "run"]
