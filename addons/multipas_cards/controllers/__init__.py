from . import portal_registration
