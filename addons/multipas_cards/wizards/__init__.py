from . import multipas_account_post_wizard
from . import multipas_card_block_wizard
from . import multipas_card_reissue_wizard
from . import multipas_device_key_wizard
