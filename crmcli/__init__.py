"""crmcli: a customer-relationship tool over one SQLite file.

The Python API is the core the `crm` command is built on: every function takes
an open connection (crmcli.db.connect) and returns plain data.
"""

__version__ = "0.1.0"

__all__ = ["__version__", "connect", "customers", "interactions", "feedback", "CrmError"]

from crmcli import customers, feedback, interactions
from crmcli.db import connect
from crmcli.errors import CrmError
