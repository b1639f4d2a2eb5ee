"""The cases report, without Dagster: analysis (pure), charts, template and renderer, report store and server."""
