"""`flask --app aggregator migrate [--switch]` and `flask --app aggregator retention`."""

import json

import click


def register(app):
    @app.cli.command("migrate")
    @click.option(
        "--switch",
        is_flag=True,
        help="Also apply the migrations the older code cannot run on: only once every aggregator runs this code.",
    )
    def migrate(switch):
        """Apply pending schema migrations."""
        applied = app.extensions["aggregator"].migrate(switch=switch)
        click.echo(f"applied migrations: {applied}" if applied else "schema is up to date")

    @app.cli.command("retention")
    def retention():
        """Create the partitions ahead and drop the expired ones (one run, on the primary)."""
        summary = app.extensions["aggregator"].maintain()
        if summary is None:
            click.echo("another retention run holds the lock; nothing done")
        else:
            click.echo(json.dumps(summary))
