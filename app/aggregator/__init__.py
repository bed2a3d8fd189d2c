"""Flask log aggregator: idempotent, durable, group-committed event ingestion."""

from flask import Flask

from . import config as settings
from . import errors, metrics
from .api.blueprints import BLUEPRINTS
from .cli import register as register_cli
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

    for blueprint in BLUEPRINTS:
        app.register_blueprint(blueprint)

    register_cli(app)
    return app
