"""What is built from the clean tables: the files published to the London Datastore (datastore_tables.py), the cases
report an analyst checks (cases_report.py) and, after their approval, the publish step (datastore_publish.py)."""
