"""The Dagster assets, in four rooms:

- `sources/`: one module per source (what it fetches, how its files are read, the model its table must meet);
- `formats/`: the publishers' formats several sources share (the PHE and UKHSA APIs, typed CSV reading);
- `ingest/`: the machinery every source shares (what a source is, the fetch-and-archive loop, the Dagster factory
  that turns a source into its raw and clean assets);
- `publication/`: what is built from the clean tables (the Datastore tables, the cases report) and the publish step.
"""
