"""`flask --app aggregator migrate`: create or upgrade the schema (idempotent)."""

import click


def register(app):
    @app.cli.command("migrate")
    def migrate():
        """Apply pending schema migrations."""
        applied = app.extensions["aggregator"].migrate()
        click.echo(f"applied migrations: {applied}" if applied else "schema is up to date")
