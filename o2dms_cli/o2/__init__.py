"""The commands of ``o2dms``, one module per resource, on the helpers of ``shared``."""
