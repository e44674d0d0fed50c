"""Roster files (花名册) with no database: reading CSV and XLSX and checking them row by row
(`reading`), and resident ID numbers (`id_numbers`). Only the standard library, openpyxl and
python-calamine; `storage.rosters` writes what these read."""
