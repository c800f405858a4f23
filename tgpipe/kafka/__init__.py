"""Kafka transport: broker factory and publish, the batch consume loop, dead letters."""
