# Spark master, workers and the job's driver: the official image matching pyspark 4.2.0, plus the
# jars of scripts/jars/spark/pom.xml (Kafka source, S3A) and the project's Python code.
FROM maven:3.9.9-eclipse-temurin-17 AS jars
COPY scripts/jars/spark/pom.xml /build/pom.xml
RUN mvn -q -B -f /build/pom.xml dependency:copy-dependencies -DoutputDirectory=/jars

FROM apache/spark:4.2.0-scala2.13-java17-python3-ubuntu
USER root
# the project needs Python 3.11+, on the driver and in the executors' Python workers
RUN apt-get update \
 && apt-get install -y --no-install-recommends software-properties-common \
 && add-apt-repository -y ppa:deadsnakes/ppa \
 && apt-get install -y --no-install-recommends python3.11 python3.11-venv \
 && rm -rf /var/lib/apt/lists/*
COPY requirements.txt /opt/smartcity/requirements.txt
RUN python3.11 -m venv /opt/venv && /opt/venv/bin/pip install --no-cache-dir -r /opt/smartcity/requirements.txt
COPY --from=jars /jars/ /opt/spark/jars/
COPY pipeline/ /opt/smartcity/pipeline/
ENV PYSPARK_PYTHON=/opt/venv/bin/python PYSPARK_DRIVER_PYTHON=/opt/venv/bin/python PYTHONPATH=/opt/smartcity
USER spark
