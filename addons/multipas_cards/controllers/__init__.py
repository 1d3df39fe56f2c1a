from . import portal_registration
from . import portal_children
