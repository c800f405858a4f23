"""tgpipe: archive Telegram chats into PostgreSQL through Kafka, with their photos."""
