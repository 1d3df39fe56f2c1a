from . import multipas_card_batch_reports
