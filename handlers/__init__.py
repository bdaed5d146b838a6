"""The use cases, written once for every platform: plain data in, a Reply out."""
