"""Running the services: service app, in-process runner, progress, embedded servers, health and readiness."""
