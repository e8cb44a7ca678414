"""Errors raised by the pipeline package (data errors are dead letters, not these)."""


class PipelineError(Exception):
    """Base class of the pipeline's operational errors."""


class BusFull(PipelineError):
    """A producer waited too long for room on the in-process bus."""


class BusClosed(PipelineError):
    """The in-process bus was closed while a producer was waiting."""


class ConfigError(PipelineError):
    """A setting is missing or invalid."""


class LakeWriteError(PipelineError):
    """Writing Parquet failed; ``written`` holds rows per table that did land."""

    def __init__(self, message: str, written: dict[str, int]) -> None:
        super().__init__(message)
        self.written = written


class KafkaUnavailable(PipelineError):
    """Kafka could not be reached, or refused an operation (topic creation, delivery)."""


class SpeedLayerUnavailable(PipelineError):
    """The speed layer stayed unreachable longer than a batch may wait; the batch is not done."""
