# session-features as a container: the DirectRunner job for scheduled windows on
# ECS (Fargate) or AWS Batch. Build: docker build -t session-features .
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app

COPY requirements.txt .
RUN pip install -r requirements.txt

COPY setup.py README.md ./
COPY pipeline ./pipeline
COPY transforms ./transforms
RUN pip install --no-deps . && useradd --uid 10001 --no-create-home features

USER features
# Configuration comes from the environment (MONGO_URI, START_DATE/END_DATE or
# --since_last, S3_BUCKET + S3_PREFIX, …) and flags given as the command.
ENTRYPOINT ["session-features"]
CMD ["--help"]
