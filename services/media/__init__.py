"""The media service: stores photos after their message is committed (consumer group ``media_group``)."""
