"""The one renderer: rows + columns + format -> table, csv, tsv, json or jsonl, on stdout or in a file.

    formats.py   Column and columns, choosing the format, the cells of csv and json, write and render
    terminal.py  stored text as a terminal may show it (escape sequences and controls shown, not acted on)
    tables.py    the terminal table, with rich (imported only when a table is drawn)
    files.py     stdout or an atomic file (a temporary file renamed into place), never the database

The rest of crm imports from here, not from the modules: these are the names it uses.
"""

from crmcli.output.files import destination, process_gone, protect_database, refuse_database_files, settle
from crmcli.output.formats import Column, choose_format, columns, csv_cell, plain, render, render_to_string, write
from crmcli.output.tables import write_table
from crmcli.output.terminal import terminal_text
from crmcli.transfer.csvcells import set_crlf

__all__ = [
    "Column", "choose_format", "columns", "csv_cell", "destination", "plain", "process_gone", "protect_database",
    "refuse_database_files", "render", "render_to_string", "set_crlf", "settle", "terminal_text", "write",
    "write_table",
]
