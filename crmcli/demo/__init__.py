"""The demo business: `generate` draws it (pure, seeded), `fill` writes it through the record modules.

vocabulary holds the tables it draws from, people the names, emails and phones, generator the
purchase process and everything dated, fill the database side.
"""

from crmcli.demo.fill import fill
from crmcli.demo.generator import DemoBusiness, generate
from crmcli.demo.people import ascii_fold
from crmcli.demo.vocabulary import STAFF

# The one list of each, as the records define them (demo_data used to keep its own copies).
from crmcli.feedback import FEEDBACK_TYPES
from crmcli.interactions import INTERACTION_TYPES

__all__ = ["DemoBusiness", "FEEDBACK_TYPES", "INTERACTION_TYPES", "STAFF", "ascii_fold", "fill", "generate"]
