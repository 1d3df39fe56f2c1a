from . import multipas_account_post_wizard
from . import multipas_card_block_wizard
from . import multipas_card_reissue_wizard
from . import multipas_registration_return_wizard
from . import multipas_registration_import_wizard
from . import multipas_registration_reissue_wizard
