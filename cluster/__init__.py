"""The native distributed cluster: Kafka, Spark standalone, Redis and S3 on loopback.

``python -m cluster up|down|status`` for people, :class:`Cluster` for the tests; both record
every process they start and stop only those.
"""
