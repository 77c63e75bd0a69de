"""The API surface as data: resource table, discovery, OpenAPI and table columns, all derived from one list."""
