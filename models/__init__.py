"""Networks, training, datasets and Deep Compression (prune, share, Huffman) in numpy.

Knows nothing of hardware: the compiler consumes what ``zeroskip.models.interchange`` exposes.
"""
