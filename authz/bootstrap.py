def bootstrap_after_migrate(**kwargs):
    pass
