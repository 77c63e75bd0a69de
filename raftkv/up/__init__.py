"""`raftkv up`: a whole HA cluster on one machine — layout and plan (pure), PKI, supervisor, status."""
