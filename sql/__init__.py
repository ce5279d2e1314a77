"""The warehouse's views and macros, one per `.sql` file, shipped as package data.

`macros/` first, then `staging/` (rename and cast one raw table), then `analysis/` (the questions).
"""
