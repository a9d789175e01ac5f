FROM python:3.11-slim
WORKDIR /srv/towns
COPY setup.py pyproject.toml README.md ./
COPY domain domain
COPY projections projections
COPY workers workers
COPY adapters adapters
RUN pip install --no-cache-dir .
USER nobody
ENTRYPOINT ["towns"]
