from . import test_ledger
from . import test_ledger_concurrency
from . import test_cards
from . import test_security
from . import test_ui
from . import test_reissue
