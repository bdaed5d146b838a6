"""One person's data: finding them, export, erasure, and linking two records of them."""
