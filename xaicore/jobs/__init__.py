"""Jobs: file-to-file attribution jobs (chunked, atomic, resumable) and the demo.

May import every part below it (methods, metrics, results, engine, exporting, kernels).
"""
