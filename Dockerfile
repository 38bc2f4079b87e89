# Renders the reports in a clean image. Mount the real datasets to get real figures:
#   docker build -t mtl-walkthrough .
#   docker run --rm -v /path/to/data:/data -v "$PWD/reports:/app/reports" mtl-walkthrough
# Without /data the notebooks run on the demo set and say so.
FROM python:3.11-slim

RUN apt-get update \
    && apt-get install -y --no-install-recommends make \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
ENV PIP_NO_CACHE_DIR=1 HF_HUB_OFFLINE=1 DATA_DIR=/data

COPY requirements.txt .
RUN python -m venv .venv \
    && .venv/bin/pip install --disable-pip-version-check -r requirements.txt \
    && touch .venv/.installed

COPY . .
# DATA_DIR=/data when a data folder is mounted there, else the demo set
CMD ["sh", "-c", "if [ ! -d /data ]; then unset DATA_DIR; fi; make reports"]
