from . import multipas_account_post_wizard
from . import multipas_card_block_wizard
from . import multipas_card_reissue_wizard
from . import multipas_leaving_confirm_wizard
from . import multipas_rollover_wizard
