"""Running the services: service app with its health server (``service``, ``health``), the writer and
media service in this process (``inprocess``), progress, embedded servers."""
