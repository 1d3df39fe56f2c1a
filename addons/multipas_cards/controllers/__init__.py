from . import portal_children
