from . import multipas_account_post_wizard
from . import multipas_card_block_wizard
from . import multipas_card_reissue_wizard
from . import multipas_card_batch_add_wizard
from . import multipas_card_batch_import_wizard
from . import multipas_card_batch_sign_wizard
from . import multipas_class_issue_wizard
