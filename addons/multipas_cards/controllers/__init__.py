from . import device_api
