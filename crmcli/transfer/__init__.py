"""Data in and out of crm as files: the CSV cell rule (csvcells), reading CSV files (csvfiles) and the
imports (imports/). Nothing here is imported by `crm --help` or by the commands that do not move data."""
