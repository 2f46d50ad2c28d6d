"""What one server shares among its sessions and visitors: who may do what (`access`), shared objects (`shared`),
one-at-a-time jobs and locks (`jobs`, `locks`), per-thread OpenCV objects (`pool`) and the upload bound (`uploads`).
"""
