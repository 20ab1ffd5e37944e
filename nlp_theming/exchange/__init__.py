"""Tables out and coding in, together: everything that crosses the project's edge as a file.

* :mod:`.tidy`: suggestions and the human coding as tidy long tables (CSV, XLSX, Parquet).
* :mod:`.coded`: span and coded-unit CSVs (read in any encoding and separator; written guarded).
* :mod:`.taguette`: Taguette projects; :mod:`.refi_qda`: REFI-QDA (.qdpx) export.
* :mod:`.units`: coded units from span coding; :mod:`.imports`: what ``import``,
  ``coded-units`` and ``taguette-units`` do.
"""
