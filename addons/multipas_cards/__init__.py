from . import models
from . import wizards
from . import controllers


def uninstall_hook(env):
    env["multipas.account"]._drop_post_function()
    env["multipas.allowlist"]._drop_sql_objects()
