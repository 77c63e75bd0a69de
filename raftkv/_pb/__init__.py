"""Generated wire code: run scripts/gen_proto.py, never edit by hand."""
