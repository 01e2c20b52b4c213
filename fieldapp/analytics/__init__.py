"""The district's de-identified analytics export (Parquet through DuckDB) and the indicators' SQL
over it; DuckDB is an optional extra, imported only when an export or a query runs."""
