"""What every source shares: what a source is (source.py), how its files are fetched and archived (fetch.py), how a
release's archived files become a validated clean table (clean.py), and the Dagster assets and job built from a
source (factory.py)."""
