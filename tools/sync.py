def sync_after_migrate(**kwargs):
    pass
