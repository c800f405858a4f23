"""tgpipe: archive Telegram channels into PostgreSQL through Kafka, with their photos."""
