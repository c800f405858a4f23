"""The three deployable services: collector, writer, media."""
