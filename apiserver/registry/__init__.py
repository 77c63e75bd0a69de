"""One generic store (create/get/list/update/patch/delete/watch) configured per resource by a Strategy."""
