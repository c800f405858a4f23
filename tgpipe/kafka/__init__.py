"""Kafka transport: broker factory and publish (``broker``), the one place plain aiokafka clients are
built (``admin``), the batch consume loop with retries and dead-lettering (``consume``), dead letters
(``dead_letters``: header names, reading, replaying)."""
