"""The HTML cases report (templates and rendering) lands here in the report milestone."""
