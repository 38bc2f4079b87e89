# Renders the reports in a clean image, from the datasets in data/ (copied in with the repository):
#   docker build -t mtl-walkthrough .
#   docker run --rm -v "$PWD/reports:/app/reports" mtl-walkthrough
# Another copy of the datasets: add -v /path/to/data:/data -e DATA_DIR=/data
FROM python:3.11-slim

RUN apt-get update \
    && apt-get install -y --no-install-recommends make \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
ENV PIP_NO_CACHE_DIR=1 HF_HUB_OFFLINE=1

COPY requirements.txt .
RUN python -m venv .venv \
    && .venv/bin/pip install --disable-pip-version-check -r requirements.txt

COPY . .
RUN .venv/bin/pip install --disable-pip-version-check --no-deps --no-build-isolation -e . \
    && touch .venv/.installed
CMD ["make", "reports"]
