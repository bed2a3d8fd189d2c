"""Flask log aggregator: idempotent, durable, group-committed event ingestion."""

from flask import Flask

from . import config as settings
from . import errors, metrics
from .runtime import Runtime


def create_app(config=None):
    """Build the app; nothing touches the database until the first request."""
    app = Flask(__name__)
    settings.load(app, config)
    app.extensions["aggregator"] = Runtime(app.config)
    errors.register(app)

    @app.after_request
    def count_response(response):
        metrics.RESPONSES.labels(code=f"{response.status_code // 100}xx").inc()
        return response

    from .api import backups, events, graphql, health, openapi, publish, replication, stats, status

    for module in (publish, events, stats, replication, backups, graphql, status, health, openapi):
        app.register_blueprint(module.bp)

    from .cli import register as register_cli

    register_cli(app)
    return app
