# syncgate Airflow image for docker-compose.yml (built via `build: .`).
# Keep the tag in step with the apache-airflow== pin in requirements.txt
# (tests/dags/test_docker_compose.py checks this).
FROM apache/airflow:3.3.2-python3.11

# Everything from requirements.txt except apache-airflow itself; Airflow stays
# pinned to the image's own version so pip cannot up/downgrade it.
COPY --chown=airflow:0 requirements.txt /tmp/requirements.txt
RUN grep -v -i -E '^[[:space:]]*apache-airflow==' /tmp/requirements.txt > /tmp/requirements-extra.txt \
 && pip install --no-cache-dir "apache-airflow==${AIRFLOW_VERSION}" -r /tmp/requirements-extra.txt \
 && rm -f /tmp/requirements.txt /tmp/requirements-extra.txt

# Pre-create the landing dir so the named volume starts out owned by airflow.
RUN mkdir -p /opt/airflow/landing/reports /opt/airflow/include
