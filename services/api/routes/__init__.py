"""The API's routers, one per module (full-stack-fastapi-template's ``api/routes``)."""
