from . import portal_registration
from . import portal_children
from . import device_api
