"""Training scripts written the way each framework's own tutorial writes them, with no suite code in them.

``python -m frameworks bench --idiomatic`` runs each in a fresh process beside the suite's epoch benchmark of
the same network, to show whether the suite's harness handicaps a framework. Each script takes its data
paths, the number of training images, epochs and threads on its command line, and prints one JSON line per
epoch: ``{"epoch": i, "seconds": s, "images": n}``.
"""
