"""The publishers' formats that more than one source reads: the PHE coronavirus API (retired), the UKHSA data
dashboard API, and CSV files read and typed fast with errors that name the line."""
